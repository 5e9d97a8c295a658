from chengzhi.models import Level, RegionKind
from chengzhi.regions import codes


def test_zero_padded_twelve_digit_codes_shorten_to_their_level():
    assert codes.shorten("120000000000") == "12"
    assert codes.shorten("120100000000") == "1201"
    assert codes.shorten("120101000000") == "120101"
    assert codes.shorten("120101100000") == "120101100"
    assert codes.shorten("120101001001") == "120101001001"


def test_malformed_codes_are_explained():
    assert "digits" in codes.check("12a101")
    assert "length" in codes.check("1201011")
    assert "province" in codes.check("990101")
    assert codes.check("120101001001001") is None


def test_digits_seven_to_nine_tell_streets_from_towns_and_townships():
    assert codes.kind_of("120101001", "12") is RegionKind.STREET
    assert codes.kind_of("120221100", "12") is RegionKind.TOWN
    assert codes.kind_of("120221200", "12") is RegionKind.TOWNSHIP
    assert codes.kind_of("120221400", "12") is RegionKind.SPECIAL


def test_digits_ten_to_twelve_tell_communities_from_villages():
    assert codes.kind_of("120221100001", "12") is RegionKind.COMMUNITY
    assert codes.kind_of("120221100201", "12") is RegionKind.VILLAGE


def test_the_root_is_the_city_whatever_its_length():
    assert codes.level_of("12", "12") is Level.CITY
    assert codes.level_of("6401", "6401") is Level.CITY
    assert codes.level_of("640104", "6401") is Level.DISTRICT


def test_a_municipality_or_a_lone_prefecture_is_inferred_as_root():
    assert codes.infer_root({"12": "天津市", "1201": "市辖区", "120101": "和平区"}) == "12"
    assert codes.infer_root({"64": "宁夏", "6401": "银川市", "640104": "兴庆区"}) == "6401"
    assert codes.infer_root({"64": "宁夏", "6401": "银川市", "6402": "石嘴山市"}) is None


def test_placeholder_rows_are_recognised_by_name_and_length():
    assert codes.is_placeholder("1201", "市辖区")
    assert codes.is_placeholder("640101", "市辖区")
    assert not codes.is_placeholder("120101", "和平区")
