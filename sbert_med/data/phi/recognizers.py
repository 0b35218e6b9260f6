"""The scrubber's Presidio recognizers, in one registry: the medical identifiers (MRN, account, health plan, licence,
vehicle and device numbers), the structured kinds in the formats clinical notes use, and context cues for names.

Every recognizer is a :class:`presidio_analyzer.PatternRecognizer` (patterns in the ``regex`` module's syntax, so a
cue can sit in a variable-width look-behind and only the identifier is matched); Presidio's own recognizers are used
where they exist (URL, IP, phone numbers through ``phonenumbers``, e-mail with an offline public-suffix check, spaCy's
named entities).
"""

from __future__ import annotations

import logging
from functools import lru_cache

import regex
from presidio_analyzer import Pattern, PatternRecognizer, RecognizerRegistry
from presidio_analyzer.predefined_recognizers import (
    EmailRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    SpacyRecognizer,
    UrlRecognizer,
)
from spacy.lang.en.stop_words import STOP_WORDS

from sbert_med.data.phi.allow_list import looks_clinical
from sbert_med.data.phi.patterns import DAY, DD, MM, MONTH, STATE, STREET

logger = logging.getLogger(__name__)

#: Presidio entity name -> scrubber kind
ENTITY_KINDS: dict[str, str] = {
    "PERSON": "name", "STREET_ADDRESS": "address", "LOCATION": "location", "ZIP_CODE": "zip", "DATE": "date",
    "AGE_OVER_89": "age", "PHONE_NUMBER": "phone", "EMAIL_ADDRESS": "email", "URL": "url", "IP_ADDRESS": "ip",
    "US_SSN": "ssn", "MRN": "mrn", "HEALTH_PLAN": "health_plan", "ACCOUNT": "account", "LICENSE": "license",
    "VEHICLE": "vehicle", "DEVICE": "device",
}

_CASE_SENSITIVE = regex.MULTILINE | regex.DOTALL
_ANY_CASE = regex.MULTILINE | regex.DOTALL | regex.IGNORECASE

# -- building blocks of names and identifiers (those of dates and addresses: sbert_med.data.phi.patterns) -------------
#: one capitalised name word, any script: "Nguyen", "O'Connell", "McDonald", "Jean-Luc", "Zoë"
_NAME_WORD = r"\p{Lu}(?:['’]\p{Lu})?\p{Ll}+(?:\p{Lu}\p{Ll}+)?(?:-\p{Lu}?\p{Ll}+)*"
_PARTICLE = r"(?:van|von|de|der|den|del|della|da|di|du|la|le|bin|binti|ibn|al|el|dos|das|ter|ten)"
_NOT_TITLE = r"(?!(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sr|Sra|Mme|Mlle|Fr|Rev)\b)"
_FULL_NAME = rf"{_NOT_TITLE}{_NAME_WORD}(?:\s+\p{{Lu}}\.)?(?:\s+(?:{_PARTICLE}\s+)*{_NAME_WORD}){{0,3}}"
_UPPER_WORD = r"\p{Lu}{2,}(?:['’-]\p{Lu}+)*"
_ID_VALUE = r"(?=[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9-]{3,}"
_SEP = r"\s*(?:is\s+|was\s+|of\s+)?(?:[:#=]\s*|\s)\s*(?:#\s*)?"

_TITLES = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sr|Sra|Mme|Mlle|Fr|Rev)\.?"
_NAME_LABELS = (r"(?i:Patient(?:'s)?(?:\s+name)?|Pt(?:\s+name)?|Name|Attending(?:\s+physician)?|Physician|Provider"
                r"|Surgeon|Resident|Fellow|Intern|Nurse|RN|NP|PCP|Referring(?:\s+(?:physician|provider))?"
                r"|Primary\s+care(?:\s+physician)?|(?:Electronically\s+)?signed(?:\s+by)?|Dictated\s+by"
                r"|Transcribed\s+by|Emergency\s+contact|Next\s+of\s+kin|Contact|Guardian|Spouse|Caregiver"
                r"|Interpreter|Pharmacist|Therapist|Social\s+worker|Case\s+manager|cc|Author|Consultant)")
_RELATIVES = (r"(?i:wife|husband|spouse|partner|daughter|son|mother|mom|father|dad|sister|brother|niece|nephew"
              r"|granddaughter|grandson|grandmother|grandfather|aunt|uncle|cousin|friend|neighbou?r|caregiver"
              r"|guardian|fianc[ée]e?|daughter-in-law|son-in-law|roommate|landlord)")
_VERB_CUES = (r"(?i:seen\s+by|accompanied\s+by|referred\s+by|evaluated\s+by|examined\s+by|reviewed\s+by"
              r"|discussed\s+with|spoke\s+(?:with|to)|called|contacted|paged|per|signed\s+by|dictated\s+by"
              r"|brought\s+in\s+by|cared\s+for\s+by|consent\s+(?:given|signed)\s+by|c/o|care\s+of|visited\s+by"
              r"|followed\s+by|covering\s+for|d/w)")
_CREDENTIALS = r"(?:MD|M\.D\.|DO|D\.O\.|RN|NP|PA-C|PA|PhD|DDS|DMD|MSW|LCSW|PharmD|CNM|CRNA|FNP|DNP|MBBS)"


def _pattern(name: str, expression: str, score: float = 0.9) -> Pattern:
    # cue patterns score above spaCy's 0.85 so that Presidio keeps them (and we know they were cued) on equal spans
    return Pattern(name=name, regex=expression, score=score)


def _labelled(labels: str) -> str:
    """An identifier value right after one of ``labels`` ("MRN: 0012345", "Member ID #AB-99812")."""
    return rf"(?<=\b(?:{labels}){_SEP}){_ID_VALUE}\b"


class LowercaseNameRecognizer(PatternRecognizer):
    """Names written in lower case after a cue ("pt john smith", "seen by dr okafor", "his daughter mei"): the
    pattern proposes up to three words after the cue; only the leading words that spaCy's tagger marks as nouns or
    proper nouns and that are not clinical or stop words are kept."""

    #: Penn Treebank tags of name-like words (proper and common nouns, foreign words)
    KEEP_TAGS = frozenset({"NNP", "NNPS", "NN", "NNS", "FW"})

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):  # noqa: D102
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        if nlp_artifacts is None or nlp_artifacts.tokens is None:
            return []
        doc = nlp_artifacts.tokens
        kept = []
        for result in results:
            end = result.start
            for word in regex.finditer(r"\S+", text[result.start : result.end]):
                start = result.start + word.start()
                token = next((token for token in doc if token.idx <= start < token.idx + len(token)), None)
                parts = regex.split(r"[-'’]", word.group(0))
                if token is None or len(word.group(0)) < 2 or not all(
                        part.isalpha() and not looks_clinical(part) and part not in STOP_WORDS for part in parts):
                    break
                # the tagger guesses on rare lower-case words ("jae-won" -> adverb + verb): trust hyphenated ones
                if len(parts) == 1 and (token.tag_ not in self.KEEP_TAGS or token.is_stop):
                    break
                end = result.start + word.end()
            if end > result.start:
                result.end = end
                kept.append(result)
        return kept


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer with its public-suffix check run on the list bundled with ``tldextract``:
    the stock check downloads the list from the internet on first use, which must not happen here."""

    def validate_result(self, pattern_text: str):  # noqa: D102
        return _offline_tld_extract()(pattern_text).fqdn != ""


@lru_cache(maxsize=1)
def _offline_tld_extract():
    import tldextract

    # no URLs -> the snapshot shipped in the package; no cache dir -> nothing written to disk
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def medical_recognizers() -> list[PatternRecognizer]:
    """Pattern recognizers for the identifiers of clinical text, one per entity (see :data:`ENTITY_KINDS`)."""
    P = _pattern
    recognizers = [
        PatternRecognizer("MRN", name="MrnRecognizer", global_regex_flags=_ANY_CASE, patterns=[P("mrn", _labelled(
            r"MRN|MR\s?#|MR\s?No\.?|Med(?:ical)?\s+rec(?:ord)?\.?(?:\s+(?:number|no\.?|#))?|Record\s+(?:number|no\.?|#)"
            r"|Patient\s+ID|Pt\.?\s+ID|Hospital\s+(?:number|no\.?|#|ID)|Unit\s+(?:number|no\.?)|Chart\s+(?:number|no\.?|#)"
            r"|Specimen\s+(?:number|no\.?|#|ID)|Accession(?:\s+(?:number|no\.?|#))?|ID\s+(?:number|no\.?)|ID"))]),
        PatternRecognizer("ACCOUNT", name="AccountRecognizer", global_regex_flags=_ANY_CASE, patterns=[P(
            "account", _labelled(
            r"Acc(?:oun)?t\.?(?:\s+(?:number|no\.?|#))?|Account|Billing\s+(?:number|no\.?|#|ID)|FIN|CSN|HAR"
            r"|Encounter(?:\s+(?:number|no\.?|#|ID))?|Visit\s+(?:number|no\.?|#|ID)|Invoice(?:\s+(?:number|no\.?|#))?"
            r"|Claim(?:\s+(?:number|no\.?|#|ID))?|Bank\s+account(?:\s+(?:number|no\.?))?|Credit\s+card"))]),
        PatternRecognizer("HEALTH_PLAN", name="HealthPlanRecognizer", global_regex_flags=_ANY_CASE, patterns=[P(
            "health_plan", _labelled(
                r"Member\s+(?:ID|number|no\.?|#)|Subscriber\s+(?:ID|number|no\.?|#)|Policy(?:\s+(?:ID|number|no\.?|#))?"
                r"|Health\s+plan(?:\s+(?:ID|number|no\.?|#))?|Insurance\s+(?:ID|number|no\.?|#)|Group\s+(?:number|no\.?|#)"
                r"|Medicaid(?:\s+(?:ID|number|no\.?|#))?|Medicare(?:\s+(?:ID|number|no\.?|#))?|MBI|HICN"
                r"|Beneficiary\s+(?:ID|number|no\.?)|Plan\s+(?:ID|number|no\.?)"))]),
        PatternRecognizer("LICENSE", name="LicenseRecognizer", global_regex_flags=_ANY_CASE, patterns=[P(
            "license", _labelled(
                r"(?:Driver'?s\s+)?Licen[cs]e(?:\s+(?:ID|number|no\.?|#))?|DL|DEA(?:\s+(?:number|no\.?|#))?|NPI"
                r"|Certificate(?:\s+(?:ID|number|no\.?|#))?|Cert\.?(?:\s+(?:number|no\.?|#))?"
                r"|Board\s+certification(?:\s+(?:number|no\.?|#))?|Permit(?:\s+(?:number|no\.?|#))?"
                r"|Registration(?:\s+(?:number|no\.?|#))?|Passport(?:\s+(?:number|no\.?|#))?"))]),
        PatternRecognizer("VEHICLE", name="VehicleRecognizer", global_regex_flags=_CASE_SENSITIVE, patterns=[
            P("vin", r"\b(?=[A-HJ-NPR-Z0-9]*\d)(?=[A-HJ-NPR-Z0-9]*[A-HJ-NPR-Z])[A-HJ-NPR-Z0-9]{17}\b", 0.85),
            P("vin_labelled", rf"(?<=\b(?i:VIN|vehicle\s+identification\s+number){_SEP})[A-Za-z0-9]{{11,17}}\b"),
            P("plate", rf"(?<=\b(?i:(?:licen[cs]e\s+)?plate|tag|registration\s+plate)(?i:\s+(?:number|no\.?|#))?"
                       rf"{_SEP})(?=[A-Z0-9 -]*\d)[A-Z0-9][A-Z0-9 -]{{1,8}}[A-Z0-9]\b"),
        ]),
        PatternRecognizer("DEVICE", name="DeviceRecognizer", global_regex_flags=_ANY_CASE, patterns=[P(
            "device", _labelled(
                r"Serial(?:\s+(?:number|no\.?|#))?|S/N|SN|Device\s+(?:ID|identifier|number|no\.?|#)|UDI|IMEI|MAC"
                r"|Model/serial|Lot(?:\s+(?:number|no\.?|#))|Implant\s+(?:ID|number|no\.?)|Generator\s+serial"))]),
        PatternRecognizer("US_SSN", name="SsnRecognizer", global_regex_flags=_ANY_CASE, patterns=[
            P("ssn_labelled", r"(?<=\b(?:SSN|SS#|social\s+security(?:\s+(?:number|no\.?|#))?)\s*(?:is\s+)?[:#]?\s*)"
                              r"\d{3}[- ]?\d{2}[- ]?\d{4}\b", 0.95),
            P("ssn", r"\b\d{3}-\d{2}-\d{4}\b", 0.85),
        ]),
        PatternRecognizer("PHONE_NUMBER", name="ClinicalPhoneRecognizer", global_regex_flags=_ANY_CASE, patterns=[
            P("phone", r"(?<![\w/])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}\b"
                       r"(?:\s*(?:x|ext\.?)\s*\d{1,5}\b)?"),
            P("phone_labelled", r"(?<=\b(?:phone|tel|telephone|cell|mobile|fax|pager|beeper|ph|call(?:\s+back)?"
                                r"(?:\s+at)?|reached\s+at)\.?\s*"
                                r"(?:number|no\.?|#)?"
                                r"\s*[:#]?\s*)\+?\d[\d\s().-]{6,16}\d\b"),
        ]),
        PatternRecognizer("DATE", name="ClinicalDateRecognizer", global_regex_flags=_CASE_SENSITIVE, patterns=[
            P("date_words", rf"\b(?:{MONTH}\s+{DAY}(?:,\s*|\s+)\d{{4}}|{DAY}\s+(?i:of\s+)?{MONTH},?\s+\d{{4}}"
                            rf"|{MONTH}\s+{DAY}\b|{DAY}\s+(?i:of\s+)?{MONTH}(?=[\s,.;:)]|$)|{MONTH},?\s+\d{{4}})"),
            P("date_numeric", rf"(?<![\w/.-])(?:\d{{4}}-{MM}-{DD}|\d{{4}}/{MM}/{DD}|{MM}/{DD}/(?:\d{{4}}|\d{{2}})"
                              rf"|{MM}-{DD}-(?:\d{{4}}|\d{{2}})|{DD}\.{MM}\.\d{{4}})(?![\w/-])"),
            P("date_cued", rf"(?<=\b(?i:on|since|from|until|through|to|dated|by|DOB|DOS|d\.o\.b\.|born|admitted"
                           rf"|discharged|seen|date|visit|interrogated|checked|performed|done|drawn|obtained|placed|started|stopped"
                           rf"|given|received|scheduled|last|next|addendum|updated|surgery|appt|appointment)\s*:?\s*)"
                           rf"{MM}/{DD}(?![\w/])"),
            P("date_weekday", r"\b(?i:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day)(?=,?\s+\p{Lu})", 0.3),
        ]),
        PatternRecognizer("AGE_OVER_89", name="AgeOver89Recognizer", global_regex_flags=_ANY_CASE, patterns=[
            P("age_years", r"\b(?:9\d|1[0-3]\d)"
                           r"(?=\s*(?:-|\s)?\s*(?:years?|yrs?|y)(?:-|\s)?\s*(?:old|o\b|/o\b|\.o\.))"),
            P("age_labelled", r"(?<=\b(?:age|aged|age\s+of)\s*:?\s*)(?:9\d|1[0-3]\d)\b"),
            P("age_short", r"\b(?:9\d|1[0-3]\d)(?=\s*(?:yo|y/o|y\.o\.|yr\.?\s?old|[MF]\b|-year))"),
        ]),
        PatternRecognizer("STREET_ADDRESS", name="StreetAddressRecognizer", global_regex_flags=_CASE_SENSITIVE,
                          patterns=[
            P("street", rf"\b\d{{1,6}}[A-Z]?\s+(?:[NSEW]\.?\s+)?"
                        rf"(?:(?:\p{{Lu}}[\p{{L}}'.]*|\d{{1,3}}(?i:st|nd|rd|th))\s+){{1,4}}"
                        rf"{STREET}\b\.?(?:\s+(?:[NSEW]|NE|NW|SE|SW)\b)?"
                        rf"(?:,?\s+(?i:Apt|Apartment|Suite|Ste|Unit|Room|Rm|Floor|Fl|#)\.?\s*#?[\w-]+)?"),
            P("po_box", r"\b(?i:P\.?\s?O\.?\s+Box|Post\s+Office\s+Box)\s+\d+"),
            P("unit", r"\b(?i:Apt|Apartment|Suite|Unit)\.?\s*#?\s*\d+[A-Z]?\b", 0.5),
        ]),
        PatternRecognizer("ZIP_CODE", name="ZipRecognizer", global_regex_flags=_CASE_SENSITIVE, patterns=[
            P("zip_labelled", r"(?<=\b(?i:zip|zip\s+code|postal\s+code|postcode)\s*:?\s*)\d{5}(?:-\d{4})?\b"),
            P("zip_after_state", rf"(?<=\b(?:{STATE}|\p{{Lu}}\p{{Ll}}+),?\s+)\d{{5}}(?:-\d{{4}})?\b"
                                 rf"(?!\s*(?i:mg|mcg|ml|units))"),
        ]),
        PatternRecognizer("LOCATION", name="CityRecognizer", global_regex_flags=_CASE_SENSITIVE, patterns=[
            P("city_state", rf"\b\p{{Lu}}\p{{Ll}}+(?:[ -]\p{{Lu}}\p{{Ll}}+){{0,2}}"
                            rf"(?=,?\s+{STATE}\b(?:\s+\d{{5}}|,|\.|$))"),
            P("city_cued", r"(?<=\b(?i:lives\s+in|living\s+in|resides\s+in|residing\s+in|moved\s+(?:here\s+)?from"
                           r"|relocated\s+from|home\s+in|resident\s+of|city|town|county)\s*:?\s+)"
                           r"\p{Lu}\p{Ll}+(?:[ -]\p{Lu}\p{Ll}+){0,2}"),
        ]),
        PatternRecognizer("PERSON", name="NameCueRecognizer", global_regex_flags=_CASE_SENSITIVE, patterns=[
            P("title", rf"(?<=\b{_TITLES}\s+){_FULL_NAME}", 0.95),
            P("label", rf"(?<=\b{_NAME_LABELS}\s*:\s*)(?:{_NAME_WORD},\s+{_NAME_WORD}(?:\s+\p{{Lu}}\.?)?|{_FULL_NAME}"
                       rf"|{_UPPER_WORD},\s+{_UPPER_WORD}(?:\s+\p{{Lu}}\.?)?"
                       rf"|{_UPPER_WORD}(?:\s+{_UPPER_WORD}){{1,2}})", 0.95),
            P("relative", rf"(?<=\b{_RELATIVES}(?:'s)?\s*,?\s*(?:\(|named\s+|is\s+)?){_FULL_NAME}", 0.9),
            P("verb_cue", rf"(?<=\b{_VERB_CUES}\s+(?:{_TITLES}\s+)?){_FULL_NAME}", 0.9),
            P("credentials", rf"{_FULL_NAME}(?=,?\s+{_CREDENTIALS}\b)", 0.95),
            P("last_first_caps", rf"^{_UPPER_WORD},\s+{_UPPER_WORD}(?:\s+\p{{Lu}}\.?)?"
                                 rf"(?=\s*$|\s{{2,}}|\s*[(|,;])", 0.9),
            P("last_first", rf"(?<=^|^\p{{Lu}}\p{{Ll}}+:\s*|\b(?i:pt|patient|name|re)\s*:?\s*)"
                            rf"{_NAME_WORD},\s+{_NAME_WORD}(?:\s+\p{{Lu}}\.)?"
                            rf"(?=\s*$|\s*[(|;,.]|\s+(?:is|was|\d))", 0.9),
        ]),
        LowercaseNameRecognizer("PERSON", name="LowercaseNameRecognizer", global_regex_flags=_CASE_SENSITIVE,
                                patterns=[
            P("lower_cue", r"(?<=(?:^|[\s(,;:])(?i:pt|patient|pt\s+name|name|mr|mrs|ms|dr|seen\s+by|accompanied\s+by"
                           r"|with\s+(?:his|her)\s+(?:wife|husband|daughter|son|mother|father|sister|brother)"
                           r"|(?:his|her|their|pt's|patient's)\s+(?:wife|husband|daughter|son|mother|father|sister"
                           r"|brother|friend|caregiver|niece|nephew|partner)|called|spoke\s+with|referred\s+by)"
                           r"\.?:?\s+)(?!(?:his|her|their|the|a|an|is|was|and|to|for|with|on|in|at|by)\b)"
                           r"\p{Ll}[\p{Ll}'-]+(?:\s+\p{Ll}[\p{Ll}'-]+){0,2}", 0.92),
        ]),
    ]
    return recognizers


def build_registry() -> RecognizerRegistry:
    """The one registry: the medical recognizers above, Presidio's URL, IP, phone and (offline) e-mail recognizers,
    and spaCy's named entities for people and places."""
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in medical_recognizers():
        registry.add_recognizer(recognizer)
    registry.add_recognizer(OfflineEmailRecognizer())
    registry.add_recognizer(UrlRecognizer())
    registry.add_recognizer(IpRecognizer())
    registry.add_recognizer(PhoneRecognizer(supported_regions=("US", "CA", "GB")))
    registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON", "LOCATION"]))
    return registry
