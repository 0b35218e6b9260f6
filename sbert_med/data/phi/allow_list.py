"""What looks like a person or a place in clinical text but is medicine: the scrubber's allow-list.

Three sources:

* ICD-10-CM descriptions (``simple-icd-10-cm``, a dependency): every capitalised word followed by a lower-case word
  in a description gives an eponym phrase ("Parkinson's disease" -> ``("parkinson", "disease")``, "Bell's palsy",
  "Guillain-Barre syndrome", "Burkitt lymphoma"), and the descriptions' lower-case words form the medical vocabulary
  used to tell free-text names from clinical words.
* Eponymous signs, tests, scores, manoeuvres and procedures that ICD-10-CM does not name ("Romberg sign", "Hashimoto
  thyroiditis" -- ICD-10-CM says "autoimmune thyroiditis", "Glasgow Coma Scale"): a short list (ours).
* Brand drug names that spaCy's small English pipeline tags as people ("Eliquis", "Lasix"): a short list (ours).

A word is allowed only in its medical phrase: "Wilson disease" stays, "Mr. Wilson" goes.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: nouns after which a capitalised word is an eponym, not a person ("X disease", "X's sign"; ours)
MEDICAL_HEADS = frozenset("""
disease diseases syndrome syndromes sign signs test tests maneuver manoeuvre score scale scales criteria criterion
classification class stage staging grade fracture fractures palsy phenomenon reflex reflexes law rule rules triad
procedure operation repair incision position point node nodes nodules body bodies cell cells disease's ulcer ulcers
thyroiditis encephalopathy lymphoma sarcoma tumor tumour anomaly anemia anaemia disorder deformity dystrophy
contracture neuroma neuralgia catheter tube line shunt pouch fundoplication esophagus duct ducts canal capsule
respiration respirations breathing sounds murmur index method technique formula equation approach solution
angina arteritis ataxia chorea dementia effusion hernia infarct infarction keratitis leukemia myopathy nephritis
paralysis pneumonia retinopathy sclerosis tetralogy tremor virus bacillus cyst cysts gland glands area areas loop
space layer membrane ligament tendon valve artery vein nerve plexus cycle pathway disease-related spots nodes
apparatus complex circle islets islet bundle sphincter ampulla foramen triangle fossa crypts organ tubercle papilla
aqueduct
""".split())

#: words of an examination finding around a bare eponym ("Babinski downgoing", "positive Murphy"; ours)
FINDINGS = frozenset("""
positive negative present absent intact upgoing downgoing equivocal elicited normal abnormal bilateral left right
mute flexor extensor sign test
""".split())

#: eponymous signs, tests, scores, procedures and diseases that ICD-10-CM descriptions do not carry (ours)
EXTRA_EPONYMS = frozenset("""
addison alzheimer apgar argyll babinski baker barrett battle beck bell berger bethesda billroth blalock bouchard
braxton breslow broca brudzinski buerger chadwick charcot cheyne chvostek colles conn courvoisier crohn cullen cushing
dandy devic doppler dubin duchenne dupuytren epley erb ewing fallot foley forrester gleason glasgow goodpasture
gram graves grey guillain hamman hashimoto heberden heimlich hirschsprung hodgkin holter homan homans horner hunt
huntington jacksonian jones kaposi kawasaki kehr kernig klinefelter korotkoff korsakoff kussmaul lachman lambert
levine lewy lhermitte ludwig lyme mallory marcus marfan mcburney mcmurray meckel meniere miller murphy nikolsky
nissen osgood paget pap parkinson phalen prinzmetal raynaud reed reiter rinne romberg rovsing roux schatzki sezary
sjogren smith spurling stevens still swan takayasu tay tinel todd tourette trendelenburg trousseau turner valsalva
virchow von wallenberg weber wegener wells wernicke whipple wilms wilson wolff zenker zollinger
""".split())

#: brand drug names spaCy's small pipeline often tags as people or places (ours; generic names are lower-case)
DRUG_NAMES = frozenset("""
abilify actos adderall advair aldactone allegra ambien aricept ativan augmentin avapro benadryl bactrim brilinta
bumex buspar cardizem celebrex celexa cialis cipro claritin clozaril colace coreg coumadin cozaar crestor cymbalta
decadron depakote diovan dilaudid eliquis effexor entresto farxiga flagyl flomax flonase glucophage humalog humira
imdur januvia jardiance keflex keppra klonopin lantus lasix levaquin levemir lexapro lipitor lopressor lovenox lyrica
medrol mobic motrin narcan neurontin nexium norco norvasc novolog ozempic pepcid percocet plavix pradaxa pravachol
prilosec protonix prozac reglan remeron risperdal robaxin seroquel singulair spiriva synthroid tamiflu tegretol
toprol tradjenta tramadol trulicity tylenol ultram valium vancocin vasotec ventolin vicodin xanax xarelto zantac
zestril zithromax zocor zofran zoloft zosyn zyprexa zyrtec
""".split())

#: note section words that spaCy's small pipeline tags as people at the start of a line (ours)
SECTION_WORDS = frozenset("""
addendum assessment plan impression history exam examination hpi ros allergies medications meds labs imaging
disposition diagnosis diagnoses procedure procedures indication indications findings recommendations summary
subjective objective vitals followup follow-up attestation nursing social family psych neuro cardiology
""".split())

#: Safe Harbor keeps the state: these place names are not identifiers
STATES = frozenset("""
alabama alaska arizona arkansas california colorado connecticut delaware florida georgia hawaii idaho illinois indiana
iowa kansas kentucky louisiana maine maryland massachusetts michigan minnesota mississippi missouri montana nebraska
nevada ohio oklahoma oregon pennsylvania tennessee texas utah vermont virginia washington wisconsin wyoming
al ak az ar ca co ct de dc fl ga hi id il in ia ks ky la me md ma mi mn ms mo mt ne nv nh nj nm ny nc nd oh ok or pa ri
sc sd tn tx ut vt va wa wv wi wy us usa u.s. america
""".split()) | {"new hampshire", "new jersey", "new mexico", "new york", "north carolina", "north dakota",
                 "rhode island", "south carolina", "south dakota", "west virginia", "united states"}

_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
_OF_HEAD = re.compile(r"\b([a-z]+)\s+of\s+(?:the\s+)?$")


@lru_cache(maxsize=1)
def _icd_descriptions() -> tuple[str, ...]:
    import simple_icd_10_cm as icd

    return tuple(sorted({icd.get_description(code) for code in icd.get_all_codes(with_dots=False)}))


@lru_cache(maxsize=1)
def eponym_phrases() -> frozenset[tuple[str, str]]:
    """``(eponym, next word)`` pairs, lower-case, from ICD-10-CM descriptions ("parkinson", "disease")."""
    pairs = set()
    pattern = re.compile(r"\b([A-Z][a-z]+)(?:'s)?(?:[- ]([A-Z][a-z]+)(?:'s)?)*\s+([a-z]+)")
    for description in _icd_descriptions():
        for found in pattern.finditer(description):
            words = re.findall(r"[A-Z][a-z]+", found.group(0))
            for word in words:
                pairs.add((word.lower(), found.group(3)))
    return frozenset(pairs)


@lru_cache(maxsize=1)
def eponyms() -> frozenset[str]:
    """Words that name a disease, sign or test somewhere (lower-case): ICD-10-CM eponyms plus ours."""
    return frozenset(word for word, _ in eponym_phrases()) | EXTRA_EPONYMS


@lru_cache(maxsize=1)
def medical_vocabulary() -> frozenset[str]:
    """Lower-case words of ICD-10-CM descriptions (``"fracture"``, ``"insulin"``...), minus the eponyms' own words."""
    words = set()
    for description in _icd_descriptions():
        words.update(word for word in _WORD.findall(description) if word.islower())
    return frozenset(words | MEDICAL_HEADS)


def is_medical_phrase(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` (tagged as a person or place) is medicine: an eponym in its medical phrase
    ("Hashimoto thyroiditis", "Romberg's sign", "positive Murphy"), a brand drug name, or medical words only."""
    words = [word.lower() for word in _WORD.findall(text[start:end])]
    if not words:
        return False
    words = [word[:-2] if word.endswith("'s") else word for word in words]
    if any(word in DRUG_NAMES for word in words):
        return True
    following = _WORD.findall(text[end : end + 40])
    next_word = following[0].lower() if following else ""
    if next_word == "s" and len(following) > 1:  # "Bell's" split at the apostrophe
        next_word = following[1].lower()
    last = words[-1]
    pairs = eponym_phrases()
    before = _WORD.findall(text[max(0, start - 20) : start])
    previous = before[-1].lower() if before else ""
    if len(words) == 1 and words[0] in eponyms() and (next_word in FINDINGS or previous in FINDINGS):
        return True  # "Babinski downgoing", "positive Murphy"
    if any(word in eponyms() for word in words) and (
        next_word in MEDICAL_HEADS or (last, next_word) in pairs or words[-1] in MEDICAL_HEADS
    ):
        return True
    if (last, next_word) in pairs:
        return True
    if all(word in MEDICAL_HEADS for word in words):
        return True
    of_head = _OF_HEAD.search(text[max(0, start - 30) : start])  # "circle of Willis", "ampulla of Vater"
    return bool(of_head and of_head.group(1) in medical_vocabulary() and any(word in eponyms() for word in words)
                or of_head and of_head.group(1) in MEDICAL_HEADS)


#: words of clinical free text that ICD-10-CM descriptions lack (ours): times, states, services, people's roles
NOTE_WORDS = frozenset("""
today tonight tomorrow yesterday now currently recently daily weekly alert awake oriented stable comfortable calm
agitated confused afebrile ambulatory ambulating bedside team service floor unit clinic ward icu er ed pcp family
patient pt nurse doctor physician resident attending staff provider pharmacy home hospice rehab surgery medicine
radiology cardiology nephrology neurology oncology pulmonology gastroenterology urology psychiatry dermatology
endocrinology hematology rheumatology orthopedics pediatrics obstetrics gynecology anesthesia therapy consult
ortho cards neuro renal pulm surg onc heme psych slp social work case management chaplain interpreter
email mail phone cell fax address contact number portal message voicemail pager
""".split())
_SERVICE_SUFFIX = re.compile(r"(?:ology|ologist|iatry|iatrist|ics|ist)$")


def looks_clinical(word: str) -> bool:
    """Whether a lower-case word is a clinical or common word rather than a name (used on lower-case free text)."""
    word = word.lower()
    if len(word) < 3:
        return False
    return (word in medical_vocabulary() or word in DRUG_NAMES or word in NOTE_WORDS
            or _SERVICE_SUFFIX.search(word) is not None)
