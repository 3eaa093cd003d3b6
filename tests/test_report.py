import pytest

from reccompress import report


def test_format_table_aligns_text_left_and_numbers_right():
    rows = [{"model": "EASE", "ndcg@10": 0.44521, "bytes": 11316496}, {"model": "MostPopular", "ndcg@10": 0.2, "bytes": 6728}]
    text = report.format_table(rows, ["model", "ndcg@10", "bytes"], {"ndcg@10": ".3f", "bytes": ",d"})
    assert text.splitlines() == [
        "model        ndcg@10       bytes",
        "-----------  -------  ----------",
        "EASE           0.445  11,316,496",
        "MostPopular    0.200       6,728",
    ]


def test_format_table_rejects_formats_for_hidden_columns():
    with pytest.raises(ValueError, match=r"not shown: \['mrr'\]"):
        report.format_table([{"a": 1}], ["a"], {"mrr": ".3f"})
