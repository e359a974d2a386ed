"""The quality bench's own arithmetic: the paired bootstrap and the faithfulness count."""

from __future__ import annotations

from bench.metrics import Interval, mean, paired_bootstrap, unsupported

ARTICLE = (
    "The Forsa Institute found that nine per cent of Germans, some 1,500 people, said so in "
    "2015. Chancellor Angela Merkel's party agreed with the findings."
)


def test_bootstrap_of_a_steady_gain_excludes_zero() -> None:
    base = [float(i % 7) for i in range(60)]
    ours = [b + 2.0 + (i % 3) * 0.5 for i, b in enumerate(base)]
    interval = paired_bootstrap(ours, base, mean, resamples=500)
    assert interval.diff == mean(ours) - mean(base)
    assert 0 < interval.low <= interval.diff <= interval.high
    assert interval.excludes_zero


def test_bootstrap_of_noise_includes_zero_and_is_reproducible() -> None:
    base = [float((i * 37) % 11) for i in range(40)]
    ours = [float((i * 53) % 11) for i in range(40)]  # the same values, shuffled
    interval = paired_bootstrap(ours, base, mean, resamples=500, seed=3)
    assert interval.low < 0 < interval.high and not interval.excludes_zero
    assert paired_bootstrap(ours, base, mean, resamples=500, seed=3) == interval


def test_bootstrap_keeps_pairs_together() -> None:
    """A constant per-item gain has no spread at all once pairs are kept together."""
    base = [float(i * i % 17) for i in range(30)]
    interval = paired_bootstrap([b + 1 for b in base], base, mean, resamples=200)
    assert round(interval.low, 9) == round(interval.high, 9) == 1.0


def test_bootstrap_refuses_unpaired_sides() -> None:
    import pytest

    with pytest.raises(ValueError):
        paired_bootstrap([1.0, 2.0], [1.0], mean)


def test_interval_text() -> None:
    assert Interval(2.25, 0.5, 4.0).text() == "+2.2 [+0.5, +4.0]"
    assert Interval(-1.0, -2.0, -0.5).excludes_zero


def test_names_and_numbers_in_the_article_are_supported() -> None:
    summary = (
        "Only 9 per cent of Germans agree, the Forsa Institute says; Angela Merkel's party too."
    )
    support = unsupported(summary, ARTICLE)
    assert support.checked == ("Germans", "Forsa", "Institute", "Angela", "Merkel's", "9")
    assert support.unsupported == ()


def test_invented_names_and_numbers_are_counted() -> None:
    summary = "In 2016 the Forsa Institute polled 1500 people for the CDU in Berlin."
    support = unsupported(summary, ARTICLE)
    assert support.unsupported == ("CDU", "Berlin", "2016")
    assert "1500" in support.checked and "Forsa" in support.checked


def test_sentence_openers_and_bullets_are_not_names() -> None:
    summary = "The poll is new.\n- Most people agreed.\nThey said so: Nobody objected."
    assert unsupported(summary, ARTICLE).checked == ()
