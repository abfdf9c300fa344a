from __future__ import annotations

import pytest

from edge.configuration.validation import ConfigError, from_mapping
from edge.formats import FormatRules, FormatsConfig, known_regions
from edge.records import Candidate, CharConfidence

ALL = FormatRules.for_regions(None)


def cc(text: str, p: float = 0.97, low: dict[int, float] | None = None) -> tuple[CharConfidence, ...]:
    low = low or {}
    return tuple(CharConfidence(c, low.get(i, p)) for i, c in enumerate(text))


def test_every_region_file_loads():
    regions = known_regions()
    assert {"US", "UK", "BR", "CN", "IN", "DE", "FR", "IT", "ES", "NL", "PL", "RO", "BE", "AT", "CH"} <= set(regions)
    assert ALL.regions == regions
    for code in regions:
        assert FormatRules.for_regions([code]).regions == (code,)
    assert FormatRules.for_regions(["gb"]).regions == ("UK",)  # alias, any case


@pytest.mark.parametrize(
    "region, read, low, expected, expected_region",
    [
        ("RO", "B21GSB", {}, "B21GSB", "RO"),  # Bucharest: the letters stay letters
        ("RO", "SB9OTZI", {3: 0.6}, "SB90TZI", "RO"),  # digit slot read as O
        ("RO", "S89OTZI", {1: 0.7, 3: 0.6}, "SB90TZI", "RO"),  # letter slot read as 8, too
        ("BR", "ABC1D23", {}, "ABC1D23", "BR"),  # Mercosur
        ("BR", "ABCID23", {3: 0.6}, "ABC1D23", "BR"),
        ("BR", "A8C1234", {1: 0.6}, "ABC1234", "BR"),  # old grey plate
        ("UK", "AB12CDE", {}, "AB12CDE", "UK"),
        ("UK", "AB1ZCDE", {3: 0.5}, "AB12CDE", "UK"),
        ("UK", "A812CDE", {1: 0.6}, "AB12CDE", "UK"),
        ("CN", "A1234O", {5: 0.6}, "A12340", "CN"),  # no O on Chinese plates
        ("IN", "MH1ZAB1234", {3: 0.6}, "MH12AB1234", "IN"),
        ("FR", "AB123CD", {}, "AB123CD", "FR"),
        ("FR", "AB1Z3CD", {3: 0.6}, "AB123CD", "FR"),
        ("ES", "1234BCD", {}, "1234BCD", "ES"),
        ("ES", "12S4BCD", {2: 0.6}, "1254BCD", "ES"),
        ("DE", "BMW1234", {}, "BMW1234", "DE"),
        ("NL", "GB0OPJ", {}, "GB00PJ", "NL"),  # NL named: a sure O in a digit slot is still 0
        ("NL", "G8123J", {1: 0.6}, "GB123J", "NL"),  # XX-999-X
        ("PL", "WA12345", {}, "WA12345", "PL"),
        ("US", "LUV2SKI", {}, "LUV2SKI", "US"),  # vanity
        ("US", "7ABC1Z3", {5: 0.6}, "7ABC123", "US"),  # a California-style serial
        ("US", "GR8TFUL", {}, "GR8TFUL", "US"),
    ],
)
def test_confusable_fixes_per_region(region, read, low, expected, expected_region):
    m = FormatRules.for_regions([region]).best(read, cc(read, low=low))
    assert m.text == expected
    assert m.region == expected_region
    assert len(m.chars) == len(m.text) and "".join(c.c for c in m.chars) == m.text
    changed = tuple(i for i, (a, b) in enumerate(zip(read, expected)) if a != b)
    assert m.fixed == changed


def test_allowed_letters_are_not_touched():
    # DD-LLL-D with Z, G, H all allowed NL letters: even a hesitant read stays as it is
    rules = FormatRules.for_regions(["NL"])
    m = rules.best("68ZGH2", cc("68ZGH2", p=0.6))
    assert m.region == "NL" and m.text == "68ZGH2" and m.fixed == ()


def test_fixed_character_confidence_is_the_posterior():
    m = FormatRules.for_regions(["RO"]).best("SB9OTZI", cc("SB9OTZI", low={3: 0.6}))
    assert m.chars[3].c == "0" and m.chars[3].p == pytest.approx(m.score)
    assert m.chars[0] == CharConfidence("S", 0.97)
    assert 0.9 < m.score <= 1.0


def test_all_regions_still_fix_hesitant_reads():
    assert ALL.best("SB9OTZI", cc("SB9OTZI", low={3: 0.6})).text == "SB90TZI"
    m = ALL.best("ABC1D23", cc("ABC1D23"))
    assert (m.text, m.region) == ("ABC1D23", "BR") and m.score > 0.9


def test_confident_characters_are_changed_only_where_the_region_is_named():
    m = ALL.best("SB9OTZI", cc("SB9OTZI", p=0.99))
    assert m.text == "SB9OTZI" and m.fixed == ()
    # with only RO expected, a digit slot cannot hold an O, however sure the read
    m = FormatRules.for_regions(["RO"]).best("SB9OTZI", cc("SB9OTZI", p=0.99))
    assert m.text == "SB90TZI" and m.fixed == (3,) and m.region == "RO"
    # with every region expected, two sure characters against the layout stay as read
    m = ALL.best("S89OTZI", cc("S89OTZI", p=0.999))
    assert m.text == "S89OTZI" and m.fixed == ()


def test_vanity_plates_survive_every_region_when_read_confidently():
    for text in ("LUV2SKI", "GR8TFUL", "B1GDOG", "H8TRS", "ELVIS"):
        m = ALL.best(text, cc(text, p=0.95))
        assert m.text == text, (text, m)
        assert m.region is not None


def test_nothing_fits_nothing_changes():
    for text in ("ABCDEFGHIJKLMN", "Ä8C1D23", "", "X"):
        m = ALL.best(text, cc(text, p=0.5))
        assert m.text == text.upper() and m.region is None and m.score == 0.0 and m.fixed == ()
    m = FormatRules.for_regions(["BR"]).best("ABCDEFG", cc("ABCDEFG", p=0.3))
    assert m.text == "ABCDEFG" and m.region is None  # no partner can make it Brazilian


def test_separators_are_dropped_and_case_folded():
    m = FormatRules.for_regions(["FR"]).best("ab-123-cd", ())
    assert (m.text, m.region, m.chars) == ("AB123CD", "FR", ())
    chars = cc("SB 9O TZI", low={4: 0.6})
    m = FormatRules.for_regions(["RO"]).best("SB 9O TZI", chars)
    assert m.text == "SB90TZI" and len(m.chars) == 7


def test_specific_layout_beats_generic_and_region_is_reported():
    m = ALL.best("1234BCD", cc("1234BCD"))
    assert m.region == "ES" and m.score > 0.9
    m = ALL.best("MH12AB1234", cc("MH12AB1234"))
    assert m.region == "IN"
    m = FormatRules.for_regions(["US", "BR"]).best("ABC1D23", cc("ABC1D23"))
    assert m.region == "BR"


def test_rank_merges_corrections_and_prefers_fitting_texts():
    rules = FormatRules.for_regions(["RO"])
    ranked = rules.rank([Candidate("XQWERTYUIOP", 0.45), ("SB9OTZI", 0.4), Candidate("SB90TZI", 0.35)])
    assert ranked[0].text == "SB90TZI" and ranked[0].confidence == pytest.approx(0.75)
    assert [c.text for c in ranked] == ["SB90TZI", "XQWERTYUIOP"]
    fitting_first = rules.rank([("ZZZZZZZ", 0.5), ("B21GSB", 0.45)])
    assert [c.text for c in fitting_first] == ["B21GSB", "ZZZZZZZ"]


def test_config_validation_names_the_key():
    cfg = from_mapping(FormatsConfig, {"regions": ["RO", "BR"], "min_score": 0.6}, "formats")
    assert cfg.regions == ("RO", "BR")
    assert FormatRules.from_config(cfg).regions == ("RO", "BR")
    with pytest.raises(ConfigError, match=r"^formats: regions\[1\]: unknown region 'XX' \(known: AT, "):
        from_mapping(FormatsConfig, {"regions": ["RO", "XX"]}, "formats")
    with pytest.raises(ConfigError, match=r"^formats\.min_score: must be between 0 and 1$"):
        from_mapping(FormatsConfig, {"min_score": 2}, "formats")
    with pytest.raises(ConfigError, match=r"^formats\.region: unknown key"):
        from_mapping(FormatsConfig, {"region": ["RO"]}, "formats")


def test_min_score_controls_how_bold_corrections_are():
    text, chars = "A12345", cc("A12345", p=0.8)
    bold = FormatRules.for_regions(["CH", "AT"], FormatsConfig(min_score=0.5)).best(text, chars)
    timid = FormatRules.for_regions(["CH", "AT"], FormatsConfig(min_score=0.99)).best(text, chars)
    assert bold.text == "AI2345" and bold.region == "CH"
    assert timid.text == "A12345" and timid.region == "AT"


def test_region_data_is_data(tmp_path):
    (tmp_path / "ZZ.toml").write_text('name = "Test"\n[[pattern]]\npattern = "\'ZZ\' DDD"\n')
    (tmp_path / "_defaults.toml").write_text('[confusables]\n"0O" = 0.7\n"2Z" = 0.6\n')
    rules = FormatRules.for_regions(["ZZ"], data_dir=tmp_path)
    assert rules.best("Z2O12", cc("Z2O12", p=0.6)).text == "ZZ012"
    (tmp_path / "BAD.toml").write_text('[[pattern]]\npattern = "L{2"\n')
    with pytest.raises(ValueError, match="quantifier"):
        FormatRules.for_regions(["BAD"], data_dir=tmp_path)
    (tmp_path / "BAD2.toml").write_text('colour = "blue"\n[[pattern]]\npattern = "LL"\n')
    with pytest.raises(ValueError, match="unknown key 'colour'"):
        FormatRules.for_regions(["BAD2"], data_dir=tmp_path)


def test_unaligned_confidences_are_passed_through_unchanged():
    chars = (CharConfidence("A", 0.9), CharConfidence("B", 0.8))  # fewer than the text
    m = FormatRules.for_regions(["IT"]).best("AB123CD", chars)
    assert m.text == "AB123CD" and m.chars == chars and m.region == "IT"


def test_region_is_named_only_when_one_region_explains_the_reading():
    rules = FormatRules.for_regions(None)
    sure = lambda t: tuple(CharConfidence(c, 0.99) for c in t)  # noqa: E731
    assert rules.best("7ABC123", sure("7ABC123")).region == "US"
    assert rules.best("ABC1D23", sure("ABC1D23")).region == "BR"
    # "LL DDD LL" is both a French and an Italian plate: a guessed region would not be the truth.
    assert rules.best("AB123CD", sure("AB123CD")).region is None
    assert FormatRules.for_regions(["IT"]).best("AB123CD", sure("AB123CD")).region == "IT"


def _valid_text(rules: FormatRules, region_code: str) -> list[tuple[str, int, str]]:
    """(plate text, position, look-alike of the other kind) for each region template whose
    position holds only digits or only letters, built from the region's own data."""
    from edge.formats import _IDX, _load_region, DATA_DIR, ALPHABET

    region = _load_region(DATA_DIR, region_code)
    digits = sum(1 << _IDX[c] for c in "0123456789")
    out = []
    for seq, _w in sorted(region.templates, key=lambda t: -t[1])[:12]:  # the common layouts
        text = [next(ALPHABET[b] for b in range(36) if m >> b & 1) for m in seq]
        for pos, m in enumerate(seq):
            kind_digit = m & ~digits == 0
            if not (kind_digit or m & digits == 0):
                continue
            for b, _share in region.position_partners[_IDX[text[pos]]]:
                if (1 << b) & m == 0 and ((1 << b) & digits == 0) == kind_digit:
                    out.append(("".join(text), pos, ALPHABET[b]))
                    break
    return out


@pytest.mark.parametrize("code", known_regions())
def test_named_region_fixes_the_kind_its_layouts_give_a_position(code):
    """With the region named, a letter where every layout of that length has a digit (or the
    reverse) becomes a look-alike even when read surely, most often the right one; with every
    region expected it stays. Texts under six characters are left out (too short to be sure
    they are a plate at all), and a rare layout may still lose to "no known format"."""
    named = FormatRules.for_regions([code])
    exact = fixed = tried = 0
    for text, pos, wrong in _valid_text(named, code):
        read = text[:pos] + wrong + text[pos + 1:]
        if len(read) < 6:
            continue
        m = named.best(read, cc(read, 0.97, {pos: 0.99}))
        if m.fixed == () and m.score > 0:
            continue  # another layout of the region takes the text as read (e.g. US vanity)
        tried += 1
        if m.fixed:
            assert m.score >= named.config.min_score and len(m.fixed) == 1, (code, read, m)
            fixed += 1
            exact += m.text == text
        assert ALL.best(read, cc(read, 0.97, {pos: 0.99})).text == read  # confident: untouched
    if code == "US":
        assert tried == 0  # any 2-8 characters are a US (vanity) plate: nothing to fix
    else:
        assert tried > 0 and fixed >= 0.6 * tried and exact >= 0.9 * fixed, (code, exact, fixed, tried)


def test_brazil_named_turns_a_sure_j_into_one():
    br = FormatRules.for_regions(["BR"])
    assert br.best("ABJ1234", cc("ABJ1234")).text == "ABJ1234"  # a letter slot: J is fine
    assert br.best("ABCJ234", cc("ABCJ234", 0.99)).text == "ABC1234"
    assert br.best("OBC1D23", cc("OBC1D23", 0.99)).text == "OBC1D23"  # O is a letter there
    assert br.best("ABC1D2Z", cc("ABC1D2Z", 0.99)).text == "ABC1D22"
    assert ALL.best("ABCJ234", cc("ABCJ234", 0.99)).text == "ABCJ234"
