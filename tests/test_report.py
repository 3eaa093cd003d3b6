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


def test_table_shows_html_on_the_page_and_the_same_text_everywhere_else():
    rows = [{"model": "EASE <dense>", "kept": 1.0}, {"model": "sparse", "kept": 0.98765}]
    table = report.table(rows, formats={"kept": ".3f"}, caption="share kept")
    assert repr(table) == "share kept\n" + report.format_table(rows, ["model", "kept"], {"kept": ".3f"})
    html = table._repr_html_()
    assert "<caption>share kept</caption>" in html and "EASE &lt;dense&gt;" in html
    assert '<td style="text-align: right">0.988</td>' in html
    assert table.column("kept") == [1.0, 0.98765]


def test_table_refuses_what_is_not_rows():
    with pytest.raises(TypeError, match="rows must be a sequence of mappings"):
        report.table("model,kept")
    with pytest.raises(TypeError, match=r"rows\[1\] must be a mapping"):
        report.table([{"a": 1}, [2]], ["a"])
    with pytest.raises(ValueError, match="an empty table needs its columns named"):
        report.table([])
