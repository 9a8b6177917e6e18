"""HL7 v2 test messages for the sandbox tests: corpus samples and a small ADT builder."""
from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"


def corpus_message(name: str) -> str:
    """A sample message from data/ with segment ends normalised to CR."""
    return (DATA / name).read_text(encoding="utf-8").replace("\r\n", "\n").strip("\n").replace("\n", "\r") + "\r"


def adt(trigger: str, control_id: str, mrn: str, family: str = "SMITH", given: str = "JOHN",
        dob: str = "19800101", sex: str = "M", version: str = "2.5.1", extra: str = "") -> str:
    return (f"MSH|^~\\&|GW|FAC|EHR|FAC|20240101120000||ADT^{trigger}^ADT_A01|{control_id}|P|{version}\r"
            f"EVN|{trigger}|20240101120000\r"
            f"PID|1||{mrn}^^^HOSP^MR||{family}^{given}^Q||{dob}|{sex}|||1 Main St^^Springfield^IL^62701"
            f"||555-0100\r{extra}")


def siu(trigger: str, control_id: str, appointment_id: str, mrn: str = "MRN1",
        start: str = "20240501090000-0500", status: str = "") -> str:
    """A v2.5.1 SIU with SCH, TQ1, PID, AIL and AIP."""
    return (f"MSH|^~\\&|GW|FAC|EHR|FAC|20240101120000||SIU^{trigger}^SIU_S12|{control_id}|P|2.5.1\r"
            f"SCH|{appointment_id}^GW||||||^Annual checkup|ROUTINE|30|min|||||||||||||||{status}\r"
            f"TQ1|||||||{start}|20240501093000-0500\r"
            f"PID|1||{mrn}^^^HOSP^MR||SMITH^JOHN||19800101|M\r"
            "RGS|1\rAIL|1||ROOM1^^^CLINIC\rAIP|1||D1^WHO^JOHN\r")
