"""Synthetic clinical notes with planted identifiers at known character spans, for measuring PHI scrubbing.

Each note is assembled from sentence templates whose slots are filled per note; every slot knows whether it is an
identifier (and of which kind) or a medical term that must survive (brand drug names, eponymous diseases and signs,
anatomy). Sections are shuffled, so identifiers move around the note; names come from many origins and are written
as "First Last", "Last, First", "LAST, FIRST", surname alone, or lower case.

Two template families: ``"test"`` (tests/data/test_phi.py) and ``"bench"`` (bench/bench_phi.py), so the benchmark
measures notes the scrubber was not tuned on.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

FIRST = ["John", "Maria", "Robert", "Linda", "Ahmed", "Mei", "Carlos", "Olga", "Kwame", "Priya", "Thomas", "Aisha",
         "William", "Sofia", "Daniel", "Grace", "Hiroshi", "Fatima", "Peter", "Elena", "Nguyen", "Oluwaseun",
         "Siobhan",
         "Dmitri", "Ingrid", "Rajesh", "Yuki", "Chen", "Mohammed", "Leilani", "Bogdan", "Amara", "José", "Zoë",
         "Tariq", "Anh", "Jae-won", "Emeka", "Svetlana", "Giovanni", "Nadia", "Kofi", "Isabella", "Arjun", "Hana"]
LAST = ["Smith", "Garcia", "Johnson", "Nguyen", "Okafor", "Kowalski", "Patel", "Rossi", "Andersen", "Haddad",
        "Thompson", "Moreno", "Fischer", "Tanaka", "O'Connell", "Brennan", "Lindqvist", "Mensah", "Dubois", "Castillo",
        "Abernathy", "Wojcik", "Yamamoto", "Chukwu", "Al-Sayed", "Petrov", "Zhang", "Kim", "Papadopoulos", "Yilmaz",
        "Hernandez", "Osei", "Ivanova", "Mukherjee", "McAllister", "Van der Berg", "Kaczmarek", "Rahimi", "Adeyemi",
        "Sandoval", "Kealoha", "Bjornsson", "Okonkwo", "Delacroix", "Tran", "Reyes", "Novak", "Farouk", "Whitfield"]
STREETS = ["Oak", "Maple", "Lakeview", "Cedar Hill", "Main", "Pine", "Elm", "Sunset", "River", "Willow Creek",
           "Magnolia", "Harbor", "Chestnut", "Juniper", "Old Mill", "Birch", "Quarry", "Orchard"]
SUFFIXES = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Drive", "Lane", "Blvd", "Court", "Way", "Terrace", "Place"]
CITIES = [("Springfield", "IL"), ("Madison", "WI"), ("Fresno", "CA"), ("Salem", "OR"), ("Albany", "NY"),
          ("Dover", "DE"), ("Boise", "ID"), ("Helena", "MT"), ("Tucson", "AZ"), ("Duluth", "MN"), ("Savannah", "GA"),
          ("Bangor", "ME"), ("Flagstaff", "AZ"), ("Burlington", "VT"), ("Lubbock", "TX"), ("Spokane", "WA")]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
CONDITIONS = ["community-acquired pneumonia", "type 2 diabetes mellitus", "atrial fibrillation",
              "congestive heart failure", "COPD exacerbation", "acute kidney injury", "cellulitis of the left leg",
              "hypertensive urgency", "urinary tract infection", "osteoarthritis of the knee"]
# medical terms that must survive scrubbing (false positives are counted on them)
EPONYMS = ["Hashimoto thyroiditis", "Parkinson disease", "Crohn's disease", "Bell's palsy", "Graves disease",
           "Addison disease", "Cushing syndrome", "Alzheimer disease", "Raynaud phenomenon", "Wilson disease",
           "Hodgkin lymphoma", "Guillain-Barre syndrome", "Barrett's esophagus", "Paget disease of bone",
           "Sjogren syndrome", "Tourette syndrome", "Kaposi sarcoma", "Huntington disease", "Meniere disease",
           "Dupuytren contracture", "Baker's cyst", "Colles fracture", "Wernicke encephalopathy", "Lyme disease"]
SIGNS = ["Romberg sign", "Babinski sign", "Murphy's sign", "Kernig sign", "Brudzinski sign", "Homans sign",
         "Tinel sign", "Phalen test", "McMurray test", "Lachman test", "Trendelenburg sign", "Chvostek sign",
         "Trousseau sign", "Rovsing sign", "Kussmaul respirations", "Glasgow Coma Scale", "Apgar score",
         "Valsalva maneuver", "Epley maneuver", "Gleason score", "Korotkoff sounds", "Spurling test"]
DRUGS = ["Eliquis", "Lasix", "Xarelto", "Lipitor", "Synthroid", "Januvia", "Coumadin", "Plavix", "Keppra",
         "Seroquel", "Zoloft", "Norvasc", "Lantus", "Entresto", "Jardiance", "Flomax", "Protonix", "Ozempic"]
GENERICS = ["metformin 1000 mg twice daily", "apixaban 5 mg", "furosemide 40 mg", "lisinopril 10 mg",
            "atorvastatin 40 mg nightly", "levothyroxine 75 mcg", "carbidopa/levodopa 25/100 mg", "ceftriaxone 1 g IV"]
ANATOMY = ["left anterior descending artery", "right lower lobe", "Achilles tendon", "Eustachian tube",
           "circle of Willis", "islets of Langerhans", "bundle of His", "loop of Henle", "sphincter of Oddi",
           "Bartholin gland", "Broca area", "Wernicke area", "ampulla of Vater"]
DOMAINS = ["gmail.com", "example.org", "mail.net", "yahoo.com", "outlook.com", "clinic-mail.us"]


@dataclass
class Note:
    """A note, its planted identifiers ``(kind, start, end)``, and the medical terms that must survive."""

    text: str
    identifiers: list[tuple[str, int, int]] = field(default_factory=list)
    keep: list[tuple[str, int, int]] = field(default_factory=list)

    def values(self, kind: str | None = None) -> list[str]:
        return [self.text[start:end] for k, start, end in self.identifiers if kind in (None, k)]


def _date(rng: random.Random, *, year: bool = True) -> str:
    y, m, d = rng.randint(1925, 2025), rng.randint(1, 12), rng.randint(1, 28)
    if not year:
        return rng.choice([f"{MONTHS[m - 1]} {d}", f"{m}/{d}", f"{d} {MONTHS[m - 1][:3]}", f"{MONTHS[m - 1][:3]} {d}"])
    return rng.choice([f"{m:02d}/{d:02d}/{y}", f"{m}/{d}/{y % 100:02d}", f"{y}-{m:02d}-{d:02d}",
                       f"{MONTHS[m - 1]} {d}, {y}", f"{d} {MONTHS[m - 1][:3]} {y}", f"{MONTHS[m - 1][:3]}. {d}, {y}",
                       f"{m}-{d}-{y}", f"{d} {MONTHS[m - 1]} {y}", f"{MONTHS[m - 1]} {y}"])


def _phone(rng: random.Random) -> str:
    a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
    return rng.choice([f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}",
                       f"{a}-{b}-{c:04d} ext. {rng.randint(10, 999)}", f"1-{a}-{b}-{c:04d}"])


def _code(rng: random.Random, letters: int, digits: int, sep: str = "") -> str:
    head = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(letters))
    return head + sep + "".join(rng.choice("0123456789") for _ in range(digits))


def _slots(rng: random.Random) -> dict[str, tuple[str, str | None]]:
    """One note's slot values: ``name -> (text, kind)`` (kind ``None``: plain text, ``"keep"``: must survive)."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    dr_first, dr_last = rng.choice(FIRST), rng.choice([name for name in LAST if name != last])
    rel_first = rng.choice([name for name in FIRST if name != first])
    nurse = f"{rng.choice(FIRST)} {rng.choice([name for name in LAST if name not in (last, dr_last)])}"
    city, state = rng.choice(CITIES)
    direction = rng.choice(["", "N ", "W. ", "South "])
    street = f"{rng.randint(2, 9999)} {direction}{rng.choice(STREETS)} {rng.choice(SUFFIXES)}"
    if rng.random() < 0.3:
        street += rng.choice([", Apt 4B", " Apt. 12", ", Unit 7", " #302"])
    user = re.sub(r"[^a-z]", "", f"{first}.{last}".lower().replace(".", "_"))
    octets = [rng.randint(1, 254) for _ in range(4)]
    return {
        "pt_full": (f"{first} {last}", "name"), "pt_first": (first, "name"), "pt_last": (last, "name"),
        "pt_last_first": (f"{last}, {first}", "name"), "pt_caps": (f"{last.upper()}, {first.upper()}", "name"),
        "pt_lower": (f"{first.lower()} {last.lower()}", "name"),
        "dr_last": (dr_last, "name"), "dr_full": (f"{dr_first} {dr_last}", "name"), "nurse": (nurse, "name"),
        "rel_first": (rel_first, "name"), "rel_full": (f"{rel_first} {last}", "name"),
        "rel_lower": (rel_first.lower(), "name"),
        "relation": (rng.choice(["daughter", "son", "wife", "husband", "sister", "brother", "niece"]), None),
        "title": (rng.choice(["Mr.", "Mrs.", "Ms.", "Mr", "Ms"]), None),
        "street": (street, "address"), "city": (city, "location"), "state": (state, None),
        "zip": (f"{rng.randint(10000, 99999)}" + (f"-{rng.randint(1000, 9999)}" if rng.random() < 0.2 else ""), "zip"),
        "date1": (_date(rng), "date"), "date2": (_date(rng), "date"), "dob": (_date(rng), "date"),
        "date_short": (_date(rng, year=False), "date"),
        "age": (str(rng.randint(90, 106)), "age"), "young_age": (str(rng.randint(20, 88)), None),
        "phone": (_phone(rng), "phone"), "fax": (_phone(rng), "phone"),
        "email": (f"{user}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}", "email"),
        "url": (rng.choice([f"https://portal.{rng.choice(['mychart', 'healthlink', 'carenet'])}.org/patient/"
                            f"{rng.randint(1000, 99999)}", f"www.{re.sub('[^a-z]', '', last.lower())}-family.com",
                            f"http://{user}.blog.example.net/posts/{rng.randint(1, 400)}"]), "url"),
        "ip": (".".join(map(str, octets)), "ip"),
        "ssn": (f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}", "ssn"),
        "mrn": (rng.choice([str(rng.randint(10**6, 10**8)), _code(rng, 1, 7), f"00{rng.randint(10**5, 10**6)}"]),
                "mrn"),
        "acct": (rng.choice([_code(rng, 1, 6), str(rng.randint(10**7, 10**9)), _code(rng, 2, 8, "-")]), "account"),
        "plan": (rng.choice([_code(rng, 3, 9), _code(rng, 1, 10), f"{rng.randint(100, 999)}-{_code(rng, 2, 6)}"]),
                 "health_plan"),
        "license": (rng.choice([_code(rng, 1, 7), _code(rng, 2, 7),
                                f"{rng.choice('ABCDGHK')}{rng.randint(10**4, 10**5)}"
                                f"-{rng.randint(1000, 9999)}"]), "license"),
        "vin": ("".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(10))
                + str(rng.randint(10**6, 10**7 - 1)), "vehicle"),
        "plate": (rng.choice([f"{rng.randint(1, 9)}{_code(rng, 3, 3)}", _code(rng, 3, 4), _code(rng, 2, 3, "-")]),
                  "vehicle"),
        "serial": (rng.choice([_code(rng, 3, 6), f"{_code(rng, 2, 4, '-')}-{rng.randint(100, 999)}",
                               _code(rng, 1, 9)]),
                   "device"),
        "condition": (rng.choice(CONDITIONS), None), "generic": (rng.choice(GENERICS), None),
        "eponym": (rng.choice(EPONYMS), "keep"), "eponym2": (rng.choice(EPONYMS), "keep"),
        "sign": (rng.choice(SIGNS), "keep"), "sign2": (rng.choice(SIGNS), "keep"),
        "drug": (rng.choice(DRUGS), "keep"), "drug2": (rng.choice(DRUGS), "keep"),
        "anatomy": (rng.choice(ANATOMY), "keep"),
    }


HEADERS = {
    "test": [
        "Patient: {pt_full}\nMRN: {mrn}    DOB: {dob}    Acct #: {acct}",
        "Name: {pt_last_first}\nMedical record number {mrn}; date of birth {dob}\nAccount number: {acct}",
        "{pt_caps}\nMRN {mrn} | DOB {dob} | FIN {acct}",
        "RE: {pt_full} (DOB {dob})\nPatient ID: {mrn}  Encounter #: {acct}",
    ],
    "bench": [
        "PATIENT NAME: {pt_caps}\nHospital number: {mrn}\nBorn {dob}. Billing number {acct}.",
        "Pt: {pt_full}  MR# {mrn}  D.O.B.: {dob}  CSN: {acct}",
        "Discharge summary for {pt_full}, chart number {mrn}, DOB {dob}, visit number {acct}.",
    ],
}
SECTIONS = {
    "test": [
        "HPI: {title} {pt_last} is a {age}-year-old with a history of {condition} and {eponym} who presented on "
        "{date1} with worsening symptoms. {pt_last} reports adherence to {generic} and {drug}.",
        "Exam: {sign} positive; {sign2} negative. Tenderness over the {anatomy}. Blood pressure 142/88, heart rate "
        "96, SpO2 93%. Age {young_age} at diagnosis of {eponym2}.",
        "Social: lives alone at {street}, {city}, {state} {zip}. {pt_first} is a retired teacher.",
        "Contacts: his {relation} {rel_full} can be reached at {phone}; fax {fax}. E-mail {email}.",
        "Identifiers: SSN {ssn} on file. Member ID: {plan}. Driver's license {license}.",
        "Transport: arrived by private car, VIN {vin}, license plate {plate}, driven by {rel_first}.",
        "Devices: dual-chamber pacemaker, serial number {serial}, interrogated {date_short}.",
        "Portal: results shared at {url}; last login from IP {ip}.",
        "Plan: continue {drug2} and {generic}; follow up with Dr. {dr_last} in 2 weeks. Take 1/2 tablet if dizzy.",
        "Nursing note: pt {pt_lower} was seen by {dr_full}, MD and accompanied by her {relation} {rel_lower}.",
        "Signed by: {nurse}, RN on {date2}.",
    ],
    "bench": [
        "History: {age} yo presenting with {condition}; known {eponym}. Prior admission {date1}.",
        "{pt_first} was brought in by {relation} {rel_full} ({phone}) after a fall at home near the {anatomy}.",
        "On examination the {sign} was elicited; {sign2} absent. Medications: {drug}, {drug2}, {generic}.",
        "Address on file: {street}, {city}, {state} {zip}. Insurance: policy number {plan}. SSN: {ssn}.",
        "Pharmacy fax {fax}. Patient e-mail {email}. Telehealth link {url} (connection from {ip}).",
        "Device: insulin pump S/N {serial}. Vehicle involved: VIN {vin}, plate {plate}.",
        "Certificate number {license} verified. Consulted {dr_full}, DO, who agrees with the plan for {eponym2}.",
        "Addendum {date_short}: spoke with {pt_lower} by phone; {pt_last} agrees. Dictated by {nurse} {date2}.",
        "Assessment: {pt_last_first} is a patient age {young_age} at onset of {condition}; continue {generic}.",
    ],
}


def _fill(template: str, slots: dict, pieces: list, identifiers: list, keep: list, offset: int) -> int:
    position = 0
    for found in re.finditer(r"\{(\w+)\}", template):
        literal = template[position : found.start()]
        pieces.append(literal)
        offset += len(literal)
        value, kind = slots[found.group(1)]
        pieces.append(value)
        if kind == "keep":
            keep.append(("keep", offset, offset + len(value)))
        elif kind:
            identifiers.append((kind, offset, offset + len(value)))
        offset += len(value)
        position = found.end()
    pieces.append(template[position:])
    return offset + len(template) - position


def make_note(rng: random.Random, family: str = "test") -> Note:
    """One note of the template ``family``, sections in random order."""
    slots = _slots(rng)
    sections = list(SECTIONS[family])
    rng.shuffle(sections)
    templates = [rng.choice(HEADERS[family]), *sections]
    pieces: list[str] = []
    identifiers: list = []
    keep: list = []
    offset = 0
    for template in templates:
        offset = _fill(template + "\n", slots, pieces, identifiers, keep, offset)
    return Note("".join(pieces), identifiers, keep)


def make_notes(count: int, *, seed: int = 0, family: str = "test") -> list[Note]:
    if family not in HEADERS:
        raise ValueError(f"family must be one of {sorted(HEADERS)}, got {family!r}")
    rng = random.Random(seed)
    return [make_note(rng, family) for _ in range(count)]


def covered(start: int, end: int, matches, text: str) -> bool:
    """Whether every letter and digit of ``text[start:end]`` lies inside one of ``matches``."""
    return all(any(match.start <= index < match.end for match in matches)
               for index in range(start, end) if text[index].isalnum())


def touched(start: int, end: int, matches) -> bool:
    """Whether any of ``matches`` overlaps ``[start, end)``."""
    return any(match.start < end and match.end > start for match in matches)
