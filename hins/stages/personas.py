"""Persona sources (pipeline stage 1): two distinct people per conversation.

A persona is the paper's P_i = {B_i, A_i} (its persona construction, §3.1): basic attributes (sex, age, marital status,
education level and field, city, state, country) and k=3 personality attributes sampled from
A_all = professional, sports, arts, travel, culinary, skills, hobbies, career_goals.

Every source answers ``pair(index) -> (Persona, Persona)`` deterministically per (seed, index), with two
different names, from a per-item ``random.Random`` (never global state), so conversation i gets the
same people whatever order conversations are generated in.

- ``BuiltinPersonas``: the built-in attribute tables (offline default).
- ``JsonPersonas``: a local file: a JSON list or JSONL of persona objects, or MSC persona pairs.
- ``NemotronPersonas``: Nemotron-Personas through ``datasets`` (the paper's source; needs the Hub,
  or local files through ``data_files``).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from hins.core.records import Persona
from hins.synthesis.persona_tables import (
    A_ALL,
    CITIES,
    EDUCATION_FIELDS,
    EDUCATION_LEVELS,
    FEMALE_NAMES,
    LAST_NAMES,
    MALE_NAMES,
    MARITAL_STATUSES,
    NO_FIELD_LEVELS,
    TRAITS,
)

__all__ = [
    "A_ALL",
    "NEMOTRON_TRAIT_COLUMNS",
    "BuiltinPersonas",
    "JsonPersonas",
    "NemotronPersonas",
    "PersonaSource",
    "PersonaSourceError",
    "persona_from_nemotron_row",
]

# Nemotron-Personas columns of the personality attributes A_all (the paper's persona construction).
NEMOTRON_TRAIT_COLUMNS: dict[str, str] = {
    "professional": "professional_persona",
    "sports": "sports_persona",
    "arts": "arts_persona",
    "travel": "travel_persona",
    "culinary": "culinary_persona",
    "skills": "skills_and_expertise",
    "hobbies": "hobbies_and_interests",
    "career_goals": "career_goals_and_ambitions",
}
_NEMOTRON_REQUIRED = ("persona", "sex", "age", "marital_status", "education_level", "bachelors_field",
                      "city", "state", "country")
# Census-style codes in Nemotron-Personas, spelled out; anything else only loses its underscores.
_CODES = {
    "married_present": "married",
    "married_absent": "married, spouse away",
    "never_married": "never married",
    "less_than_9th": "less than 9th grade",
    "9th_12th_no_diploma": "some high school",
    "high_school": "high school diploma",
    "some_college": "some college",
    "associates": "associate's degree",
    "bachelors": "bachelor's degree",
    "graduate": "graduate degree",
    "no_degree": "none",
}
_STR_FIELDS = ("pid", "name", "sex", "marital_status", "education_level", "education_field", "city", "state",
               "country")
_MSC_SPLITS = ("train", "valid", "test")
_MSC_SPEAKERS = ("Speaker 1", "Speaker 2")
# A name at the start of a persona text: capitalised words followed by " is" or a comma.
_NAME_AT_START = re.compile(r"^\s*([A-Z][\w'.-]*(?:\s+[A-Z][\w'.-]*)*)(?=\s+is\b|\s*,)")


class PersonaSourceError(ValueError):
    """A persona source cannot be read; the message names the file or dataset, the record and the field."""


class PersonaSource(Protocol):
    def pair(self, index: int) -> tuple[Persona, Persona]: ...


def _check_k(k_traits: int) -> int:
    if not 1 <= k_traits <= len(A_ALL):
        raise ValueError(f"k_traits must be between 1 and {len(A_ALL)}, got {k_traits}")
    return k_traits


def _draw_name(rng: random.Random, sex: str) -> str:
    firsts = FEMALE_NAMES if sex.lower().startswith("f") else MALE_NAMES
    return f"{rng.choice(firsts)} {rng.choice(LAST_NAMES)}"


def _draw_basic(rng: random.Random, sex: str | None = None) -> dict[str, Any]:
    """Basic attributes B_i from the built-in tables, with loosely realistic dependencies on age."""
    sex = sex or rng.choice(("Female", "Male"))
    age = rng.randint(18, 80)
    if age < 25:
        marital = rng.choices(MARITAL_STATUSES, weights=(85, 13, 1, 1, 0))[0]
    elif age < 60:
        marital = rng.choices(MARITAL_STATUSES, weights=(30, 50, 13, 5, 2))[0]
    else:
        marital = rng.choices(MARITAL_STATUSES, weights=(8, 55, 15, 4, 18))[0]
    level = rng.choices(EDUCATION_LEVELS, weights=(28, 20, 10, 25, 11, 3, 3))[0]
    city, state, country = rng.choice(CITIES)
    return {
        "name": _draw_name(rng, sex),
        "sex": sex,
        "age": age,
        "marital_status": marital,
        "education_level": level,
        "education_field": "none" if level in NO_FIELD_LEVELS else rng.choice(EDUCATION_FIELDS),
        "city": city,
        "state": state,
        "country": country,
    }


def _sample_k(rng: random.Random, traits: Mapping[str, str], k: int) -> dict[str, str]:
    """k of the given attributes, kept in their source order."""
    keys = list(traits)
    keep = set(rng.sample(keys, min(k, len(keys))))
    return {key: traits[key] for key in keys if key in keep}


class BuiltinPersonas:
    """Offline personas from the built-in tables; ``pair(index)`` is a pure function of (seed, index)."""

    def __init__(self, seed: int, k_traits: int = 3) -> None:
        self.seed = seed
        self.k_traits = _check_k(k_traits)

    def pair(self, index: int) -> tuple[Persona, Persona]:
        rng = random.Random(f"{self.seed}:builtin:{index}")
        first = self._person(rng, f"builtin-{self.seed}-{index}-a")
        while True:
            second = self._person(rng, f"builtin-{self.seed}-{index}-b")
            # Different first names too, so speakers can go by first name.
            if second.name.split()[0] != first.name.split()[0]:
                return first, second

    def _person(self, rng: random.Random, pid: str) -> Persona:
        basic = _draw_basic(rng)
        attrs = rng.sample(A_ALL, self.k_traits)
        traits = {a: rng.choice(TRAITS[a]) for a in A_ALL if a in attrs}
        return Persona(pid=pid, traits=traits, **basic)


class JsonPersonas:
    """Personas from a local file.

    Accepted formats:

    - a JSON list, or JSONL (``.jsonl``/``.ndjson``), of objects with ``Persona`` fields; missing basic
      fields (name, sex, age, ...) are filled deterministically from the built-in tables; ``traits`` is
      an attribute -> text object (k of them are sampled when there are more) or a list of sentences
      (kept whole, named ``sentence_1..n``);
    - MSC persona pairs, ``{"train": [{"Speaker 1": [...], "Speaker 2": [...]}, ...], "valid": ..., "test":
      ...}`` (e.g. LoCoMo's msc_personas_all.json): each entry is one conversation's pair, each speaker's
      sentences become its traits, names and basic attributes come from the built-in tables.

    ``pair(index)`` cycles: MSC entries in order; persona lists through all ordered pairs of distinct records.
    """

    def __init__(self, path: str | Path, seed: int, k_traits: int = 3, split: str | None = None) -> None:
        self.path = Path(path)
        self.seed = seed
        self.k_traits = _check_k(k_traits)
        self.split = split
        data = self._read()
        if isinstance(data, dict):
            self._msc = self._load_msc(data)
            self._people: list[Persona] = []
        else:
            self._msc = []
            self._people = self._load_list(data)

    def __len__(self) -> int:
        return len(self._msc) or len(self._people)

    def _error(self, where: str, message: str) -> PersonaSourceError:
        return PersonaSourceError(f"{self.path}: {where}: {message}" if where else f"{self.path}: {message}")

    def _read(self) -> Any:
        if not self.path.is_file():
            raise self._error("", "persona file not found")
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise self._error("", f"cannot read the file ({e})") from e
        if self.path.suffix.lower() in (".jsonl", ".ndjson"):
            rows = []
            for lineno, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise self._error(f"record {len(rows)} (line {lineno})",
                                      f"invalid JSON: {e.msg} at column {e.colno}") from e
            return rows
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise self._error("", f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e
        if isinstance(data, dict) and not any(k in data for k in _MSC_SPLITS):
            raise self._error("", "expected a JSON list of persona objects, JSONL, or an MSC persona file "
                                  f"with {'/'.join(_MSC_SPLITS)} lists; got an object with keys {sorted(data)[:8]}")
        if not isinstance(data, (list, dict)):
            raise self._error("", f"expected a JSON list of persona objects, got {type(data).__name__}")
        return data

    # -------------------------------------------------------------- persona lists
    def _load_list(self, rows: list) -> list[Persona]:
        if not rows:
            raise self._error("", "the persona list is empty; expected at least 2 personas")
        people = [self._person(i, row) for i, row in enumerate(rows)]
        if len(people) < 2:
            raise self._error("", "only 1 persona; a conversation needs at least 2")
        if len({p.name for p in people}) < 2:
            raise self._error("", f"all personas are named {people[0].name!r}; pairs need two different names")
        return people

    def _person(self, i: int, row: Any) -> Persona:
        where = f"record {i}"
        if not isinstance(row, dict):
            raise self._error(where, f"expected a JSON object (one persona), got {type(row).__name__}")
        for key in _STR_FIELDS:
            if key in row and not (isinstance(row[key], str) and row[key].strip()):
                raise self._error(where, f"field {key!r}: expected a non-empty string, got {row[key]!r}")
        if "age" in row and (isinstance(row["age"], bool) or not isinstance(row["age"], int)
                             or not 0 < row["age"] < 130):
            raise self._error(where, f"field 'age': expected an integer between 1 and 129, got {row['age']!r}")
        rng = random.Random(f"{self.seed}:json:{i}")
        filled = _draw_basic(rng, row.get("sex"))
        filled.update({k: row[k].strip() for k in _STR_FIELDS if k in row})
        if "age" in row:
            filled["age"] = row["age"]
        filled.setdefault("pid", f"{self.path.stem}-{i}")
        filled["traits"] = self._traits(where, rng, row.get("traits", {}))
        return Persona(**filled)

    def _traits(self, where: str, rng: random.Random, traits: Any) -> dict[str, str]:
        if isinstance(traits, list):
            for j, sentence in enumerate(traits):
                if not isinstance(sentence, str):
                    raise self._error(where, f"field 'traits'[{j}]: expected a string, got {type(sentence).__name__}")
            return {f"sentence_{j + 1}": s.strip() for j, s in enumerate(traits) if s.strip()}
        if isinstance(traits, dict):
            for key, value in traits.items():
                if not isinstance(value, str):
                    raise self._error(where, f"field 'traits'[{key!r}]: expected a string, got {type(value).__name__}")
            return _sample_k(rng, traits, self.k_traits)
        raise self._error(where, "field 'traits': expected an object (attribute -> text) or a list of sentences, "
                                 f"got {type(traits).__name__}")

    # -------------------------------------------------------------- MSC persona pairs
    def _load_msc(self, data: dict) -> list[tuple[str, int, list[list[str]]]]:
        if self.split is not None and self.split not in data:
            raise self._error("", f"split {self.split!r} not in the file; it has {sorted(data)}")
        splits = [self.split] if self.split is not None else [s for s in _MSC_SPLITS if s in data]
        entries = []
        for split in splits:
            rows = data[split]
            if not isinstance(rows, list):
                raise self._error(f"split {split!r}", f"expected a list of speaker pairs, got {type(rows).__name__}")
            for i, row in enumerate(rows):
                where = f"record {split}[{i}]"
                if not isinstance(row, dict):
                    raise self._error(where, f"expected an object with {_MSC_SPEAKERS}, got {type(row).__name__}")
                sentences = []
                for speaker in _MSC_SPEAKERS:
                    value = row.get(speaker)
                    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                        raise self._error(where, f"field {speaker!r}: expected a list of sentences, got {value!r:.60}")
                    sentences.append([s.strip() for s in value if s.strip()])
                entries.append((split, i, sentences))
        if not entries:
            raise self._error("", "the MSC file has no speaker pairs")
        return entries

    def _msc_pair(self, index: int) -> tuple[Persona, Persona]:
        split, i, sentences = self._msc[index % len(self._msc)]
        rng = random.Random(f"{self.seed}:msc:{split}:{i}")
        people = []
        for j, lines in enumerate(sentences, start=1):
            basic = _draw_basic(rng)
            while people and basic["name"].split()[0] == people[0].name.split()[0]:
                basic["name"] = _draw_name(rng, basic["sex"])
            people.append(Persona(pid=f"msc-{split}-{i}-{j}",
                                  traits={f"sentence_{n + 1}": s for n, s in enumerate(lines)}, **basic))
        return people[0], people[1]

    def pair(self, index: int) -> tuple[Persona, Persona]:
        if self._msc:
            return self._msc_pair(index)
        n = len(self._people)
        # Walk all ordered pairs (a, b), a != b: index -> a, then a growing offset to b.
        a = index % n
        step = 1 + (index // n) % (n - 1)
        for extra in range(n - 1):
            b = (a + (step - 1 + extra) % (n - 1) + 1) % n
            if self._people[b].name != self._people[a].name:
                return self._people[a], self._people[b]
        raise self._error(f"record {a}", f"no other persona has a different name than {self._people[a].name!r}")


def _humanize(value: Any) -> str:
    text = str(value).strip()
    return _CODES.get(text, text.replace("_", " "))


def _parse_name(*texts: str) -> str | None:
    """The name a Nemotron persona text starts with ("Mary Alberti is ...", "Quintin, a 40-year-old ...").

    The summary often gives the first name only, so a longer name with the same first word in another
    text (the professional persona usually has the full name) is preferred.
    """
    names = [m.group(1) for t in texts if t for m in [_NAME_AT_START.match(t)] if m]
    if not names:
        return None
    first = names[0].split()[0]
    return max((n for n in names if n.split()[0] == first), key=lambda n: len(n.split()))


def persona_from_nemotron_row(row: Mapping[str, Any], index: int, seed: int, k_traits: int = 3) -> Persona:
    """Map one Nemotron-Personas row to a Persona (the paper's P_i = {B_i, A_i}); traits: k sampled non-empty columns."""
    rng = random.Random(f"{seed}:nemotron-row:{row.get('uuid') or index}")
    texts = [row.get("persona") or ""] + [row.get(c) or "" for c in NEMOTRON_TRAIT_COLUMNS.values()]
    sex = str(row.get("sex") or "").strip() or rng.choice(("Female", "Male"))
    name = _parse_name(*texts) or _draw_name(rng, sex)
    available = {a: str(row[c]).strip() for a, c in NEMOTRON_TRAIT_COLUMNS.items() if row.get(c)}
    return Persona(
        pid=f"nemotron-{row.get('uuid') or index}",
        name=name,
        sex=sex,
        age=int(row["age"]),
        marital_status=_humanize(row.get("marital_status") or ""),
        education_level=_humanize(row.get("education_level") or ""),
        education_field=_humanize(row.get("bachelors_field") or "none"),
        city=str(row.get("city") or ""),
        state=str(row.get("state") or ""),
        country=str(row.get("country") or ""),
        traits=_sample_k(rng, available, k_traits),
    )


class NemotronPersonas:
    """Nemotron-Personas rows through ``datasets.load_dataset``, loaded on the first ``pair`` call.

    ``data`` injects an already loaded ``datasets.Dataset`` (or any sequence of row mappings) in the same
    column schema; ``data_files`` is passed to ``load_dataset`` for local copies (e.g. dataset="parquet").
    """

    def __init__(
        self,
        dataset: str = "nvidia/Nemotron-Personas",
        split: str = "train",
        *,
        seed: int,
        k_traits: int = 3,
        data_files: str | Sequence[str] | None = None,
        data: Any = None,
    ) -> None:
        self.dataset = dataset
        self.split = split
        self.seed = seed
        self.k_traits = _check_k(k_traits)
        self.data_files = data_files
        self._data = data
        if data is not None:
            self._check_columns(data)

    @classmethod
    def from_dataset(cls, data: Any, seed: int, k_traits: int = 3) -> "NemotronPersonas":
        return cls(dataset="<in-memory>", seed=seed, k_traits=k_traits, data=data)

    def _check_columns(self, data: Any) -> None:
        columns = getattr(data, "column_names", None) or (list(data[0]) if len(data) else [])
        missing = [c for c in _NEMOTRON_REQUIRED if c not in columns]
        if missing:
            raise PersonaSourceError(f"{self.dataset} ({self.split}): missing columns {missing}; expected the "
                                     f"Nemotron-Personas schema ({', '.join(_NEMOTRON_REQUIRED)}, ...)")
        if len(data) < 2:
            raise PersonaSourceError(f"{self.dataset} ({self.split}): {len(data)} rows; pairs need at least 2")

    def _rows(self) -> Any:
        if self._data is None:
            try:
                import datasets

                data = datasets.load_dataset(self.dataset, split=self.split, data_files=self.data_files)
            except Exception as e:  # the Hub raises many kinds (connection, offline mode, missing repo)
                raise PersonaSourceError(
                    f"cannot load {self.dataset!r} (split {self.split!r}) through datasets.load_dataset: the "
                    f"Hugging Face Hub is unreachable or the dataset is unavailable ({type(e).__name__}: {e}). "
                    "Use personas=builtin, or personas=json personas.path=<file>.") from e
            self._check_columns(data)
            self._data = data
        return self._data

    def persona(self, row_index: int) -> Persona:
        return persona_from_nemotron_row(self._rows()[row_index], row_index, self.seed, self.k_traits)

    def pair(self, index: int) -> tuple[Persona, Persona]:
        n = len(self._rows())
        rng = random.Random(f"{self.seed}:nemotron:{index}")
        i, j = rng.sample(range(n), 2)
        first, second = self.persona(i), self.persona(j)
        for _ in range(20):
            if second.name != first.name:
                return first, second
            second = self.persona(rng.randrange(n))
        raise PersonaSourceError(f"{self.dataset} ({self.split}): cannot find a second persona not named "
                                 f"{first.name!r}")
