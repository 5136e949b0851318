"""Record ids: the 18-character checksum form (reference §11.12)."""

from workbench.crm.org.ids import checksum, make_id, normalize_id, to_18


def test_checksum_matches_the_documented_examples():
    assert to_18("0LQWQ00000ERARR") == "0LQWQ00000ERARR4A5"
    assert to_18("003RO0000035WQg") == "003RO0000035WQgYAM"


def test_fifteen_character_ids_are_returned_in_the_18_character_form():
    assert normalize_id("003RO0000035WQg") == "003RO0000035WQgYAM"
    assert normalize_id("003RO0000035WQgYAM") == "003RO0000035WQgYAM"


def test_an_18_character_id_whose_case_was_lost_is_repaired_from_its_checksum():
    assert normalize_id("003ro0000035wqgyam") == "003RO0000035WQgYAM"
    assert normalize_id("0LQWQ00000ERARR4A5".lower()) == "0LQWQ00000ERARR4A5"


def test_malformed_ids_are_rejected():
    assert normalize_id("003RO") is None
    assert normalize_id("003RO0000035WQg!!!") is None
    assert normalize_id("003RO0000035WQgYA") is None  # 17 characters
    assert normalize_id("003RO0000035WQgBAA") is None  # checksum marks a digit as uppercase


def test_made_ids_carry_the_key_prefix_and_a_valid_checksum():
    ids = [make_id("0LQ", n) for n in (1, 61, 62, 10**6)]
    assert len(set(ids)) == 4
    for record_id in ids:
        assert record_id.startswith("0LQ") and len(record_id) == 18
        assert checksum(record_id[:15]) == record_id[15:]
