"""Licence-plate format rules per region: score a read against known layouts, fix confusables.

The rules are data (``edge/data/formats/<REGION>.toml``), not code: each region lists its plate
layouts as small templates ("LLL D L DD" for a Brazilian Mercosur plate, "[A-HJ-PR-Y]{2} DD
[A-HJ-PR-Z]{3}" for a current UK plate) with weights, and the glyph pairs an OCR confuses
(0/O, 1/I, 8/B, 5/S, 2/Z, 6/G, D/0, ...). ``_defaults.toml`` documents the pattern language.

Scoring is a small Bayesian model, so the numbers mean something:

* every template T of the text's length is a hypothesis with prior
  ``P(region) * weight(T)`` and a uniform likelihood over the strings it allows
  (``prod 1/|class_i|``): a specific layout ("DDDD LLL") beats a generic one ("A{7}") when the
  text fits both, and the generic one keeps texts that fit nothing else (US vanity plates);
* a character outside its slot's class may be replaced by a confusable partner inside it; that
  costs ``share * (1 - p) / p`` where ``p`` is the OCR's confidence in the character it read
  (a hesitant 'O' in a digit slot is cheap to turn into '0', a confident one is not), and a
  character read with ``p > max_fix_confidence`` is never changed;
* "no known format" is one more hypothesis (prior ``unknown_prior``, uniform over 36 symbols);
* when a deployment names its regions (``[formats] regions``), the positions their layouts fix
  are trusted: a letter where every layout has a digit (or the reverse) may also become a
  look-alike from ``position_fixes`` (J -> 1, A -> 4, ...), and when no layout takes the text
  as read, ``max_fix_confidence`` no longer protects it, since the region says it cannot be
  what was read.

``FormatRules.best(text, chars)`` returns the corrected text with the highest posterior; its
``score`` is that posterior (0 when the text fits no template at all), its ``region`` the
region that explains at least ``REGION_SHARE`` of it (None when several regions share a layout,
e.g. French and Italian ``LL DDD LL``). A correction is applied only when its posterior is at least
``min_score``; otherwise the text is returned as read. Texts are matched upper case without
spaces, dashes or dots (they are removed from the returned text too).

Cost per call: a dict lookup when the text was seen before (per-text structure is cached), else
a few numpy operations over the templates of that length; then a short loop over the templates
that fit.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from pathlib import Path

import numpy as np

from edge.records import Candidate, CharConfidence

__all__ = [
    "ALPHABET",
    "DATA_DIR",
    "FormatMatch",
    "FormatRules",
    "FormatsConfig",
    "known_regions",
]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_IDX = {c: i for i, c in enumerate(ALPHABET)}
_DIGITS = sum(1 << _IDX[c] for c in "0123456789")
_LETTERS = sum(1 << _IDX[c] for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ANY = _DIGITS | _LETTERS
MAX_LEN = 12  # longest text any template may describe; also the null model's length range
DATA_DIR = Path(__file__).resolve().parent / "data" / "formats"
_CACHE_MAX = 4096
# A region is named only when it explains at least this share of the reading's likelihood.
REGION_SHARE = 0.75
# Where the named regions fix a position's kind, the most a read of the other kind counts for.
POSITION_P_MAX = 0.95


@dataclass(frozen=True, slots=True)
class FormatsConfig:
    """`[formats]` section: which regions' plates to expect and how bold corrections may be."""

    regions: tuple[str, ...] = ()  # region codes (file names in edge/data/formats); empty = all
    # A corrected text is used only if its posterior is at least this. 0.7 rather than 0.5: with
    # every region expected and each character read at p 0.7, 0.5 wrongly changed 154 of the
    # 1,167 teacher-labelled real train plates and 0.7 changed 72; on the detection val splits
    # (training/eval_val.py) the product read 304/377 plates with 0.5 and 306 with 0.7.
    min_score: float = 0.7
    max_fix_confidence: float = 0.9  # a character read with higher confidence is never changed
    unknown_prior: float = 0.1  # prior that a plate follows none of the expected formats

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError("min_score: must be between 0 and 1")
        if not 0.0 <= self.max_fix_confidence <= 1.0:
            raise ValueError("max_fix_confidence: must be between 0 and 1")
        if not 0.0 < self.unknown_prior < 1.0:
            raise ValueError("unknown_prior: must be between 0 and 1 (exclusive)")
        known = _aliases(DATA_DIR)
        for i, name in enumerate(self.regions):
            if name.upper() not in known:
                raise ValueError(
                    f"regions[{i}]: unknown region {name!r} (known: {', '.join(known_regions())})"
                )


@dataclass(frozen=True, slots=True)
class FormatMatch:
    """The best reading of a text under the format rules.

    `text` is the (possibly corrected) text, `chars` its per-character confidences (empty if
    none were given), `region` the best-fitting region or None, `score` the posterior
    probability that `text` is a plate of the expected formats (0 when nothing fits),
    `fixed` the positions whose character was corrected.
    """

    text: str
    chars: tuple[CharConfidence, ...]
    region: str | None
    score: float
    fixed: tuple[int, ...] = ()


# ----------------------------------------------------------------------------- data loading


@dataclass(frozen=True, slots=True)
class _Region:
    code: str
    name: str
    aliases: tuple[str, ...]
    prior: float
    templates: tuple[tuple[tuple[int, ...], float], ...]  # (masks per position, weight), sum 1
    partners: tuple[tuple[tuple[int, float], ...], ...]  # per char index: (partner, share) best first
    position_partners: tuple[tuple[tuple[int, float], ...], ...]  # the same, with position_fixes


_REGION_KEYS = {"name", "aliases", "prior", "max_length", "confusables", "position_fixes", "pattern",
                "plate"}  # [plate]: the physical size, read by edge.plate_sizes
_PATTERN_KEYS = {"pattern", "weight", "note"}


def known_regions(data_dir: Path = DATA_DIR) -> tuple[str, ...]:
    """Region codes that have a data file, sorted."""
    return tuple(sorted(p.stem for p in Path(data_dir).glob("*.toml") if not p.stem.startswith("_")))


@lru_cache(maxsize=8)
def _aliases(data_dir: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for code in known_regions(data_dir):
        out[code] = code
        try:  # only the aliases here; a broken file is reported when its region is loaded
            aliases = tomllib.loads((Path(data_dir) / f"{code}.toml").read_text()).get("aliases", ())
        except (OSError, tomllib.TOMLDecodeError):
            aliases = ()
        for alias in aliases if isinstance(aliases, list) else ():
            out[str(alias).upper()] = code
    return out


def _parse_class(body: str, where: str) -> int:
    mask = 0
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            lo, hi = body[i], body[i + 2]
            if lo not in _IDX or hi not in _IDX or _IDX[lo] > _IDX[hi]:
                raise ValueError(f"{where}: bad range {lo}-{hi}")
            for k in range(_IDX[lo], _IDX[hi] + 1):
                mask |= 1 << k
            i += 3
        else:
            if body[i] not in _IDX:
                raise ValueError(f"{where}: {body[i]!r} is not a plate character (0-9, A-Z)")
            mask |= 1 << _IDX[body[i]]
            i += 1
    if not mask:
        raise ValueError(f"{where}: empty character set")
    return mask


def _literal(s: str, where: str) -> tuple[int, ...]:
    out = []
    for c in s:
        if c not in _IDX:
            raise ValueError(f"{where}: {c!r} is not a plate character (0-9, A-Z)")
        out.append(1 << _IDX[c])
    return tuple(out)


def _expand(pattern: str, where: str) -> list[tuple[int, ...]]:
    """All fixed-length mask sequences a pattern describes."""
    elements: list[list[tuple[int, ...]]] = []  # each element: alternative mask sequences
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c in " -\t":
            i += 1
            continue
        if c == "{":
            j = pattern.find("}", i)
            if j < 0:
                raise ValueError(f"{where}: unclosed quantifier {{")
            if not elements:
                raise ValueError(f"{where}: quantifier without a token")
            parts = pattern[i + 1 : j].split(",")
            try:
                lo = int(parts[0])
                hi = int(parts[-1]) if len(parts) == 2 else lo
            except ValueError:
                raise ValueError(f"{where}: bad quantifier {pattern[i:j + 1]}") from None
            if len(parts) > 2 or lo < 0 or hi < lo:
                raise ValueError(f"{where}: bad quantifier {pattern[i:j + 1]}")
            last = elements.pop()
            if any(len(alt) != 1 for alt in last) or len(last) != 1:
                raise ValueError(f"{where}: a quantifier applies to one character class only")
            elements.append([last[0] * k for k in range(lo, hi + 1)])
            i = j + 1
            continue
        if c == "[":
            j = pattern.find("]", i)
            if j < 0:
                raise ValueError(f"{where}: unclosed [")
            elements.append([(_parse_class(pattern[i + 1 : j], where),)])
            i = j + 1
        elif c == "'":
            j = pattern.find("'", i + 1)
            if j < 0:
                raise ValueError(f"{where}: unclosed quote")
            elements.append([_literal(pattern[i + 1 : j], where)])
            i = j + 1
        elif c == "(":
            j = pattern.find(")", i)
            if j < 0:
                raise ValueError(f"{where}: unclosed (")
            elements.append([_literal(a.strip(), where) for a in pattern[i + 1 : j].split("|")])
            i = j + 1
        elif c in "LDA":
            elements.append([({"L": _LETTERS, "D": _DIGITS, "A": _ANY}[c],)])
            i += 1
        else:
            raise ValueError(f"{where}: unexpected {c!r} in pattern {pattern!r}")
    return [sum(combo, ()) for combo in product(*elements)]


@lru_cache(maxsize=64)
def _load_region(data_dir: Path, code: str) -> _Region:
    defaults_path = data_dir / "_defaults.toml"
    defaults = tomllib.loads(defaults_path.read_text()) if defaults_path.exists() else {}
    path = data_dir / f"{code}.toml"
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    for key in data:
        if key not in _REGION_KEYS:
            raise ValueError(f"{path}: unknown key {key!r}")
    merged = {**defaults, **data}
    max_len = int(merged.get("max_length", MAX_LEN))
    templates: dict[tuple[int, ...], float] = {}
    for k, pat in enumerate(data.get("pattern", [])):
        where = f"{path}: pattern[{k}]"
        for key in pat:
            if key not in _PATTERN_KEYS:
                raise ValueError(f"{where}: unknown key {key!r}")
        weight = float(pat.get("weight", 1.0))
        if weight <= 0:
            raise ValueError(f"{where}: weight must be positive")
        seqs = [s for s in _expand(str(pat["pattern"]), where) if 1 <= len(s) <= min(max_len, MAX_LEN)]
        for seq in seqs:
            templates[seq] = templates.get(seq, 0.0) + weight / len(seqs)
    if not templates:
        raise ValueError(f"{path}: no patterns")
    total = sum(templates.values())
    confusables = _pairs(merged, "confusables", path)
    with_positions = {**_pairs(merged, "position_fixes", path), **confusables}
    prior = float(merged.get("prior", 1.0))
    if prior <= 0:
        raise ValueError(f"{path}: prior must be positive")
    return _Region(
        code=code,
        name=str(merged.get("name", code)),
        aliases=tuple(str(a) for a in data.get("aliases", ())),
        prior=prior,
        templates=tuple((seq, w / total) for seq, w in templates.items()),
        partners=_partner_lists(confusables),
        position_partners=_partner_lists(with_positions),
    )


def _pairs(data: dict, key: str, path: Path) -> dict[tuple[int, int], float]:
    out: dict[tuple[int, int], float] = {}
    for pair, share in dict(data.get(key, {})).items():
        if len(pair) != 2 or pair[0] not in _IDX or pair[1] not in _IDX or pair[0] == pair[1]:
            raise ValueError(f"{path}: {key}: bad pair {pair!r}")
        share = float(share)
        if not 0.0 < share <= 1.0:
            raise ValueError(f"{path}: {key}.{pair}: share must be in (0, 1]")
        out[(_IDX[pair[0]], _IDX[pair[1]])] = share
    return out


def _partner_lists(pairs: dict[tuple[int, int], float]) -> tuple[tuple[tuple[int, float], ...], ...]:
    partners: list[list[tuple[int, float]]] = [[] for _ in ALPHABET]
    for (a, b), share in pairs.items():
        partners[a].append((b, share))
        partners[b].append((a, share))
    return tuple(tuple(sorted(p, key=lambda t: -t[1])) for p in partners)


# ----------------------------------------------------------------------------- rules


class _LengthGroup:
    __slots__ = ("masks", "likelihood", "region")

    def __init__(self, masks: np.ndarray, likelihood: np.ndarray, region: np.ndarray) -> None:
        self.masks = masks  # (templates, length) uint64 bit sets
        self.likelihood = likelihood  # (templates,) prior(region) * weight * prod 1/|class|
        self.region = region  # (templates,) index into FormatRules.regions


class FormatRules:
    """Compiled format rules for a set of regions. Build with `for_regions` (cached)."""

    def __init__(self, regions: Sequence[_Region], config: FormatsConfig, fix_positions: bool = False) -> None:
        self.config = config
        self.regions: tuple[str, ...] = tuple(r.code for r in regions)
        self.fix_positions = fix_positions  # the deployment named its regions: trust their layouts
        self._min_score = config.min_score
        self._max_fix = config.max_fix_confidence
        self._null_prior = config.unknown_prior
        total_prior = sum(r.prior for r in regions) or 1.0
        rows: dict[int, list[tuple[tuple[int, ...], float, int]]] = {}
        for ri, region in enumerate(regions):
            p_region = (1.0 - config.unknown_prior) * region.prior / total_prior
            for seq, weight in region.templates:
                lik = p_region * weight
                for m in seq:
                    lik /= m.bit_count()
                rows.setdefault(len(seq), []).append((seq, lik, ri))
        self._groups: dict[int, _LengthGroup] = {}
        for n, items in rows.items():
            self._groups[n] = _LengthGroup(
                np.array([s for s, _, _ in items], dtype=np.uint64).reshape(len(items), n),
                np.array([lik for _, lik, _ in items], dtype=np.float64),
                np.array([ri for _, _, ri in items], dtype=np.intp),
            )
        self._partners = [r.position_partners if fix_positions else r.partners for r in regions]
        partner_masks = np.zeros((max(len(regions), 1), len(ALPHABET)), dtype=np.uint64)
        for ri, plists in enumerate(self._partners):
            for ci, plist in enumerate(plists):
                partner_masks[ri, ci] = sum(1 << b for b, _ in plist)
        self._partner_masks = partner_masks
        self._structure_cache: dict[str, tuple] = {}

    # -- construction

    @classmethod
    def for_regions(
        cls,
        regions: Sequence[str] | None = None,
        config: FormatsConfig | None = None,
        data_dir: Path | str | None = None,
    ) -> FormatRules:
        """Rules for these region codes (None or empty: `config.regions`, else every region)."""
        config = config or FormatsConfig()
        names = tuple(regions) if regions else config.regions
        return _compiled(tuple(n.upper() for n in names), config, Path(data_dir or DATA_DIR))

    @classmethod
    def from_config(cls, config: FormatsConfig) -> FormatRules:
        return cls.for_regions(None, config)

    # -- scoring

    def best(
        self,
        text: str,
        chars: Sequence[CharConfidence] | None = (),
        default_p: float = 0.5,
    ) -> FormatMatch:
        """The most probable plate text for this read (see the module doc for the model).

        `chars` are the OCR's per-character confidences aligned with `text`; without them every
        character counts as read with confidence `default_p`.
        """
        norm, cc = _normalise(text, chars)
        passthrough = () if cc or not chars else tuple(chars)  # not aligned: returned untouched
        struct = self._structure_cache.get(norm)
        if struct is None:
            struct = self._structure(norm)
            if len(self._structure_cache) >= _CACHE_MAX:
                self._structure_cache.clear()
            self._structure_cache[norm] = struct
        if not struct:
            return FormatMatch(norm, cc or passthrough, None, 0.0)
        max_fix, p_max = self._max_fix, 0.999
        if self.fix_positions and all(fixes for _ri, _lik, fixes in struct):
            # No named layout takes the text as read, so a sure read is wrong anyway; a reader's
            # confidence in a glyph of the wrong kind is not worth more than POSITION_P_MAX.
            max_fix, p_max = 1.0, POSITION_P_MAX
        groups: dict[tuple, list] = {}  # fixes -> [sum L, {region index: sum L}]
        for ri, lik, fixes in struct:
            for pos, _new, share in fixes:
                p = cc[pos].p if cc else default_p
                if p > max_fix:
                    lik = 0.0
                    break
                p = min(max(p, 0.01), p_max)
                lik *= share * (1.0 - p) / p
            if lik <= 0.0:
                continue
            g = groups.get(fixes)
            if g is None:
                groups[fixes] = [lik, {ri: lik}]
            else:
                g[0] += lik
                g[1][ri] = g[1].get(ri, 0.0) + lik
        if not groups:
            return FormatMatch(norm, cc or passthrough, None, 0.0)
        n = len(norm)
        total = sum(g[0] for g in groups.values())
        total += self._null_prior / MAX_LEN * (1.0 / len(ALPHABET)) ** n
        key, g = max(groups.items(), key=lambda kv: kv[1][0])
        score = g[0] / total
        if key and score < self._min_score:  # not sure enough to change what was read
            g = groups.get(())
            if g is None:
                return FormatMatch(norm, cc or passthrough, None, 0.0)
            key, score = (), g[0] / total
        region = self._region_of(g)
        if not key:
            return FormatMatch(norm, cc or passthrough, region, score)
        out = list(norm)
        new_cc = list(cc)
        for pos, new, _share in key:
            out[pos] = new
            if cc:
                new_cc[pos] = CharConfidence(new, score)
        return FormatMatch("".join(out), tuple(new_cc), region, score, tuple(p for p, _, _ in key))

    def _region_of(self, group: list) -> str | None:
        """The region that explains most of this reading; None when several fit about equally
        (AB12CDE is a UK and a Romanian layout): a guessed region would not be the truth."""
        ri, lik = max(group[1].items(), key=lambda kv: kv[1])
        return self.regions[ri] if lik >= REGION_SHARE * group[0] else None

    def rank(self, candidates: Iterable[Candidate | tuple[str, float]]) -> list[Candidate]:
        """Candidates corrected by the rules, merged when they become the same text, best first.

        Confidences stay the candidates' own (summed when merged, capped at 1); the order is by
        confidence weighted by format plausibility (``confidence * (0.5 + 0.5 * score)``), so a
        text that fits a known layout ranks above an equally confident one that does not.
        """
        merged: dict[str, list[float]] = {}
        for cand in candidates:
            text, conf = (cand.text, cand.confidence) if isinstance(cand, Candidate) else cand
            conf = float(conf)
            n = max(len(text), 1)
            m = self.best(text, (), default_p=max(conf, 0.0) ** (1.0 / n))
            entry = merged.get(m.text)
            if entry is None:
                merged[m.text] = [conf, m.score]
            else:
                entry[0] = min(1.0, entry[0] + conf)
                entry[1] = max(entry[1], m.score)
        ranked = sorted(merged.items(), key=lambda kv: -kv[1][0] * (0.5 + 0.5 * kv[1][1]))
        return [Candidate(text, conf) for text, (conf, _score) in ranked]

    # -- internals

    def _structure(self, norm: str) -> tuple:
        """Templates this text can fit (as read or through confusable fixes), independent of p."""
        group = self._groups.get(len(norm))
        if group is None:
            return ()
        try:
            idx = np.fromiter((_IDX[c] for c in norm), dtype=np.intp, count=len(norm))
        except KeyError:
            return ()
        bits = np.left_shift(np.uint64(1), idx.astype(np.uint64))
        fits = (group.masks & bits) != 0
        partner = self._partner_masks[group.region[:, None], idx[None, :]]
        viable = np.flatnonzero((fits | ((group.masks & partner) != 0)).all(axis=1))
        if not len(viable):
            return ()
        codes = idx.tolist()
        out = []
        for t, row_fits, row_masks in zip(
            viable.tolist(), fits[viable].tolist(), group.masks[viable].tolist()
        ):
            ri = int(group.region[t])
            fixes = []
            if not all(row_fits):
                partners = self._partners[ri]
                for pos, ok in enumerate(row_fits):
                    if ok:
                        continue
                    mask = row_masks[pos]
                    for b, share in partners[codes[pos]]:
                        if mask >> b & 1:  # the likeliest partner that the slot allows
                            fixes.append((pos, ALPHABET[b], share))
                            break
            out.append((ri, float(group.likelihood[t]), tuple(fixes)))
        return tuple(out)


def _normalise(
    text: str, chars: Sequence[CharConfidence] | None
) -> tuple[str, tuple[CharConfidence, ...]]:
    aligned = bool(chars) and len(chars) == len(text)
    out, cc = [], []
    for i, c in enumerate(text):
        if not c.isalnum():
            continue
        u = c.upper()
        out.append(u)
        if aligned:
            ch = chars[i]
            cc.append(ch if ch.c == u else CharConfidence(u, ch.p))
    return "".join(out), tuple(cc)


@lru_cache(maxsize=16)
def _compiled(names: tuple[str, ...], config: FormatsConfig, data_dir: Path) -> FormatRules:
    aliases = _aliases(data_dir)
    codes: list[str] = []
    for name in names or known_regions(data_dir):
        code = aliases.get(name)
        if code is None:  # a file added since the folder was listed?
            _aliases.cache_clear()
            aliases = _aliases(data_dir)
            code = aliases.get(name)
        if code is None:
            raise ValueError(f"unknown plate region {name!r} (known: {', '.join(known_regions(data_dir))})")
        if code not in codes:
            codes.append(code)
    return FormatRules([_load_region(data_dir, c) for c in codes], config, fix_positions=bool(names))

