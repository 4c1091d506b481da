"""Persona sources: built-in tables, JSON/JSONL/MSC files, Nemotron-Personas column mapping, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hins.stages.personas import (
    A_ALL,
    NEMOTRON_TRAIT_COLUMNS,
    BuiltinPersonas,
    JsonPersonas,
    NemotronPersonas,
    PersonaSourceError,
)
from hins.core.records import Persona
from hins.synthesis.persona_tables import CITIES, FEMALE_NAMES, LAST_NAMES, MALE_NAMES, TRAITS

MSC_PATH = Path(os.environ.get("HINS_MSC_PERSONAS", "/work/shared/data/locomo/msc_personas_all.json"))


# ---------------------------------------------------------------- built-in tables
def test_tables_are_big_enough():
    assert len(FEMALE_NAMES) >= 200 and len(MALE_NAMES) >= 200 and len(LAST_NAMES) >= 300
    assert len(set(FEMALE_NAMES)) == len(FEMALE_NAMES) and len(set(MALE_NAMES)) == len(MALE_NAMES)
    assert len(CITIES) >= 100 and all(len(c) == 3 and all(c) for c in CITIES)
    assert set(TRAITS) == set(A_ALL) and len(A_ALL) == 8
    assert all(len(texts) >= 24 for texts in TRAITS.values())


def test_builtin_deterministic_and_order_independent():
    a, b = BuiltinPersonas(seed=1), BuiltinPersonas(seed=1)
    later = [a.pair(i) for i in (9, 3, 7)]
    assert [b.pair(i) for i in (9, 3, 7)] == later
    assert a.pair(3) == later[1]
    assert BuiltinPersonas(seed=2).pair(3) != later[1]


def test_builtin_pairs_are_distinct_people_with_k_traits():
    source = BuiltinPersonas(seed=0)
    names = set()
    for i in range(500):
        p1, p2 = source.pair(i)
        assert isinstance(p1, Persona) and p1.pid != p2.pid
        assert p1.name != p2.name and p1.name.split()[0] != p2.name.split()[0]
        for p in (p1, p2):
            assert len(p.traits) == 3 and set(p.traits) <= set(A_ALL)
            assert all(isinstance(v, str) and v for v in p.traits.values())
            assert 18 <= p.age <= 80 and p.sex in ("Female", "Male")
            assert p.city and p.state and p.country and p.marital_status and p.education_level
            assert p.education_field
            names.add(p.name)
    assert len(names) > 900  # variety: few repeated people over 1,000 draws


def test_builtin_k_traits():
    p1, _ = BuiltinPersonas(seed=0, k_traits=2).pair(0)
    assert len(p1.traits) == 2
    with pytest.raises(ValueError, match="k_traits"):
        BuiltinPersonas(seed=0, k_traits=9)


# ---------------------------------------------------------------- JSON / JSONL / MSC
RECORDS = [
    {"name": "Mary Alberti", "sex": "Female", "age": 34, "city": "Tucson", "state": "Arizona",
     "traits": {"sports": "swims laps", "arts": "paints", "travel": "road trips", "culinary": "bakes bread"}},
    {"name": "Tom Reyes", "traits": ["I am a nurse.", "I love hiking."]},
    {"pid": "custom-7"},
]


def _write(tmp_path: Path, name: str, content) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def test_json_list(tmp_path):
    source = JsonPersonas(_write(tmp_path, "people.json", RECORDS), seed=4)
    assert len(source) == 3
    people = {p.pid: p for i in range(6) for p in source.pair(i)}
    mary, tom, anon = people["people-0"], people["people-1"], people["custom-7"]
    assert (mary.name, mary.age, mary.city, mary.state) == ("Mary Alberti", 34, "Tucson", "Arizona")
    assert len(mary.traits) == 3 and set(mary.traits) <= {"sports", "arts", "travel", "culinary"}
    assert tom.traits == {"sentence_1": "I am a nurse.", "sentence_2": "I love hiking."}
    # Missing basic fields are filled from the tables, deterministically.
    assert anon.name and anon.sex and 18 <= anon.age <= 80 and anon.city and anon.traits == {}
    assert JsonPersonas(tmp_path / "people.json", seed=4).pair(2) == source.pair(2)
    # Cycling walks all ordered pairs of distinct records.
    pairs = {(a.pid, b.pid) for a, b in (source.pair(i) for i in range(6))}
    assert len(pairs) == 6 and all(a != b for a, b in pairs)
    assert source.pair(6) == source.pair(0)


def test_jsonl(tmp_path):
    text = "\n".join(json.dumps(r) for r in RECORDS) + "\n\n"
    source = JsonPersonas(_write(tmp_path, "people.jsonl", text), seed=4)
    assert len(source) == 3
    assert source.pair(0)[0].name == "Mary Alberti"


def test_msc_format(tmp_path):
    data = {
        "train": [{"Speaker 1": ["I like jazz.", "I am a teacher."], "Speaker 2": ["I have two dogs."],
                   "in_dataset": 0},
                  {"Speaker 1": ["I surf."], "Speaker 2": ["I bake bread.", "I live in Ohio."]}],
        "valid": [{"Speaker 1": ["I run marathons."], "Speaker 2": []}],
    }
    path = _write(tmp_path, "msc.json", data)
    source = JsonPersonas(path, seed=1)
    assert len(source) == 3
    p1, p2 = source.pair(0)
    assert p1.traits == {"sentence_1": "I like jazz.", "sentence_2": "I am a teacher."}
    assert p2.traits == {"sentence_1": "I have two dogs."}
    assert p1.name.split()[0] != p2.name.split()[0] and p1.age and p1.city
    assert source.pair(2)[1].traits == {}
    assert source.pair(3) == source.pair(0)
    assert JsonPersonas(path, seed=1).pair(1) == source.pair(1)
    valid = JsonPersonas(path, seed=1, split="valid")
    assert len(valid) == 1 and valid.pair(0)[0].traits == {"sentence_1": "I run marathons."}


@pytest.mark.skipif(not MSC_PATH.is_file(), reason="MSC persona file not available (set HINS_MSC_PERSONAS)")
def test_real_msc_file():
    source = JsonPersonas(MSC_PATH, seed=0)
    raw = json.loads(MSC_PATH.read_text(encoding="utf-8"))
    assert len(source) == sum(len(raw[s]) for s in ("train", "valid", "test") if s in raw)
    p1, p2 = source.pair(0)
    assert list(p1.traits.values()) == [s.strip() for s in raw["train"][0]["Speaker 1"]]
    assert list(p2.traits.values()) == [s.strip() for s in raw["train"][0]["Speaker 2"]]


BAD_INPUTS = [
    # (file name, content, strings the error must contain)
    ("broken.json", '[{"name": "A"}, {"name": ', ["broken.json", "invalid JSON", "line 1"]),
    ("number.json", "42", ["number.json", "expected a JSON list"]),
    ("object.json", {"people": []}, ["object.json", "MSC", "people"]),
    ("empty.json", [], ["empty.json", "empty"]),
    ("single.json", [{"name": "Solo Person"}], ["single.json", "at least 2"]),
    ("notobj.json", [{"name": "A B"}, "Bob"], ["notobj.json", "record 1", "expected a JSON object"]),
    ("age.json", [{"name": "A B"}, {"name": "C D", "age": "forty"}], ["age.json", "record 1", "'age'", "integer"]),
    ("agebool.json", [{"name": "A B", "age": True}, {"name": "C D"}], ["record 0", "'age'"]),
    ("name.json", [{"name": 7}, {"name": "C D"}], ["name.json", "record 0", "'name'", "string"]),
    ("traits.json", [{"name": "A B", "traits": "likes tea"}, {"name": "C D"}],
     ["traits.json", "record 0", "'traits'", "object"]),
    ("traititem.json", [{"name": "A B", "traits": ["ok", 3]}, {"name": "C D"}], ["record 0", "'traits'[1]"]),
    ("traitval.json", [{"name": "A B", "traits": {"arts": None}}, {"name": "C D"}], ["record 0", "'traits'['arts']"]),
    ("samename.json", [{"name": "A B"}, {"name": "A B"}], ["samename.json", "different names"]),
    ("msc.json", {"train": [{"Speaker 1": ["x"], "Speaker 2": "not a list"}]},
     ["msc.json", "record train[0]", "'Speaker 2'", "list of sentences"]),
    ("mscrow.json", {"train": [["x"]]}, ["mscrow.json", "record train[0]", "expected an object"]),
    ("mscsplit.json", {"train": {"a": 1}}, ["mscsplit.json", "split 'train'", "expected a list"]),
    ("mscempty.json", {"train": [], "valid": []}, ["mscempty.json", "no speaker pairs"]),
    ("bad.jsonl", '{"name": "A B"}\n{"name": \n', ["bad.jsonl", "record 1 (line 2)", "invalid JSON"]),
]


@pytest.mark.parametrize("name,content,needles", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_names_file_record_field(tmp_path, name, content, needles):
    with pytest.raises(PersonaSourceError) as info:
        JsonPersonas(_write(tmp_path, name, content), seed=0)
    assert isinstance(info.value, ValueError)
    for needle in needles:
        assert needle in str(info.value)


def test_missing_file_and_missing_split(tmp_path):
    with pytest.raises(PersonaSourceError, match="nope.json: persona file not found"):
        JsonPersonas(tmp_path / "nope.json", seed=0)
    path = _write(tmp_path, "msc.json", {"train": [{"Speaker 1": ["a"], "Speaker 2": ["b"]}]})
    with pytest.raises(PersonaSourceError, match="split 'test'"):
        JsonPersonas(path, seed=0, split="test")


# ---------------------------------------------------------------- Nemotron-Personas
def _nemotron_rows() -> dict[str, list]:
    """Three invented rows in the real Nemotron-Personas column schema."""
    rows = [
        dict(uuid="u1", persona="Mary Alberti is a meticulous nurse who unwinds in her garden.",
             professional_persona="Mary Alberti, a nurse, keeps the night ward calm.",
             sports_persona="Mary swims laps at dawn.", arts_persona="Mary sketches birds.",
             travel_persona="Mary road trips to national parks.", culinary_persona="Mary bakes sourdough.",
             cultural_background="Grew up in a big Italian family.", skills_and_expertise="Triage and calm.",
             skills_and_expertise_list="['triage', 'calm']", hobbies_and_interests="Gardening and birds.",
             hobbies_and_interests_list="['gardening']", career_goals_and_ambitions="Become head nurse.",
             sex="Female", age=45, marital_status="married_present", education_level="bachelors",
             bachelors_field="stem_related", occupation="registered_nurse", city="Tucson", state="AZ",
             zipcode="85701", country="USA"),
        dict(uuid="u2", persona="Quintin, a 40-year-old logistician from Converse, likes order.",
             professional_persona="Quintin Pete Johnson, a logistician, optimises supply chains.",
             sports_persona="", arts_persona="Quintin plays bass.", travel_persona="Quintin visits Texas towns.",
             culinary_persona="Quintin smokes brisket.", cultural_background="Texan.",
             skills_and_expertise="Spreadsheets.", skills_and_expertise_list="['spreadsheets']",
             hobbies_and_interests="Fishing.", hobbies_and_interests_list="['fishing']",
             career_goals_and_ambitions="Run a warehouse.", sex="Male", age=40, marital_status="never_married",
             education_level="graduate", bachelors_field="arts_humanities", occupation="logistician",
             city="Converse", state="TX", zipcode="78109", country="USA"),
        dict(uuid="u3", persona="a quiet reader who loves rain.", professional_persona="Works in a library.",
             sports_persona="", arts_persona="", travel_persona="", culinary_persona="",
             cultural_background="", skills_and_expertise="", skills_and_expertise_list="[]",
             hobbies_and_interests="Reading.", hobbies_and_interests_list="['reading']",
             career_goals_and_ambitions="", sex="Female", age=70, marital_status="widowed",
             education_level="high_school", bachelors_field="no_degree", occupation="librarian",
             city="Duluth", state="MN", zipcode="55802", country="USA"),
    ]
    return {k: [r[k] for r in rows] for k in rows[0]}


@pytest.fixture
def nemotron():
    datasets = pytest.importorskip("datasets")
    return NemotronPersonas.from_dataset(datasets.Dataset.from_dict(_nemotron_rows()), seed=3)


def test_nemotron_column_mapping(nemotron):
    people = {p.pid: p for p in (nemotron.persona(i) for i in range(3))}
    mary, quintin, anon = people["nemotron-u1"], people["nemotron-u2"], people["nemotron-u3"]
    assert mary.name == "Mary Alberti"
    assert quintin.name == "Quintin Pete Johnson"  # the summary has the first name only
    assert anon.name and anon.name[0].isupper()  # no name in the texts: drawn from the tables
    assert (mary.sex, mary.age, mary.marital_status) == ("Female", 45, "married")
    assert (mary.education_level, mary.education_field) == ("bachelor's degree", "stem related")
    assert (mary.city, mary.state, mary.country) == ("Tucson", "AZ", "USA")
    assert (quintin.marital_status, quintin.education_field) == ("never married", "arts humanities")
    assert anon.education_field == "none"
    rows = _nemotron_rows()
    for p, i in ((mary, 0), (quintin, 1)):
        assert len(p.traits) == 3 and set(p.traits) <= set(A_ALL)
        for attr, text in p.traits.items():
            assert text == rows[NEMOTRON_TRAIT_COLUMNS[attr]][i]
    assert "sports" not in quintin.traits  # empty columns are never sampled
    assert set(anon.traits) <= {"professional", "hobbies"}


def test_nemotron_pairs(nemotron):
    p1, p2 = nemotron.pair(0)
    assert p1.name != p2.name
    assert nemotron.pair(0) == (p1, p2)
    assert nemotron.pair(5) == nemotron.pair(5)


def test_nemotron_schema_errors():
    datasets = pytest.importorskip("datasets")
    rows = _nemotron_rows()
    del rows["bachelors_field"]
    with pytest.raises(PersonaSourceError, match="bachelors_field"):
        NemotronPersonas.from_dataset(datasets.Dataset.from_dict(rows), seed=0)


def test_nemotron_unreachable_hub(monkeypatch):
    datasets = pytest.importorskip("datasets")

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'nvidia/Nemotron-Personas' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    source = NemotronPersonas(seed=0)  # lazy: constructing needs no network
    with pytest.raises(PersonaSourceError) as info:
        source.pair(0)
    message = str(info.value)
    assert "nvidia/Nemotron-Personas" in message and "Hub is unreachable" in message
    assert "personas=builtin" in message and "personas=json personas.path=" in message
