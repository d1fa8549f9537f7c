from conversations.derived import derive, parse_month, waiting_months


def test_bmw_from_status():
    assert derive({"status": "bekerja"}, 2024)["bmw"] == "B"
    assert derive({"status": "melanjutkan"}, 2024)["bmw"] == "M"
    assert derive({"status": "wirausaha"}, 2024)["bmw"] == "W"
    for other in ("kursus", "mencari_kerja", "tidak_mencari"):
        assert derive({"status": other}, 2024)["bmw"] == ""
    assert derive({}, 2024) == {"bmw": "", "relevant": None, "waiting_months": None}


def test_relevant_codes():
    for code in ("sangat_sesuai", "sesuai", "ya"):
        assert derive({"relevance": code}, 2024)["relevant"] is True
    for code in ("kurang_sesuai", "tidak_sesuai", "sebagian", "tidak"):
        assert derive({"relevance": code}, 2024)["relevant"] is False
    assert derive({"status": "bekerja"}, 2024)["relevant"] is None


def test_waiting_months_counts_from_june_and_floors_at_zero():
    assert waiting_months("06/2024", 2024) == 0
    assert waiting_months("07/2024", 2024) == 1
    assert waiting_months("01/2025", 2024) == 7
    assert waiting_months("06/2025", 2024) == 12
    # hired by the internship host before graduating
    assert waiting_months("02/2024", 2024) == 0
    assert waiting_months("11/2023", 2024) == 0
    assert derive({"status": "bekerja", "start_month": "09/2024"}, 2024)["waiting_months"] == 3


def test_bad_months_give_none():
    assert parse_month("13/2024") is None
    assert parse_month("2024-06") is None
    assert parse_month(None) is None
    assert parse_month("3/2025") == (2025, 3)
    assert waiting_months("soon", 2024) is None
