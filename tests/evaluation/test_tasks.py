"""dvdgan_tf.evaluation.tasks: the generated-set loop written once."""

import pytest

from dvdgan_tf.evaluation import tasks


class _Context:
    def __init__(self, seeds):
        self.seeds = seeds


def test_one_set_reports_its_value_and_no_std():
    (result,) = tasks.over_generated_sets(
        _Context((7,)), "p", 10, lambda seed: {"m": float(seed)}
    )
    assert result == tasks.MetricResult("m", "p", 10, 7, 7.0, None)


def test_several_sets_report_mean_and_population_std():
    results = tasks.over_generated_sets(
        _Context((1, 2, 3)), "p", 4, lambda seed: {"a": seed, "b": 2 * seed}
    )
    assert [r.name for r in results] == ["a", "b"]
    assert results[0].value == pytest.approx(2.0)
    assert results[0].std == pytest.approx((2.0 / 3.0) ** 0.5)
    assert results[1].value == pytest.approx(4.0)
    assert results[0].seed == 1


def test_a_set_may_give_its_own_std_when_it_is_the_only_one():
    (one,) = tasks.over_generated_sets(
        _Context((0,)), "p", 4, lambda seed: {"is": (3.0, 0.25)}
    )
    assert (one.value, one.std) == (3.0, 0.25)
    (several,) = tasks.over_generated_sets(
        _Context((0, 1)), "p", 4, lambda seed: {"is": (3.0 + seed, 0.25)}
    )
    assert (several.value, several.std) == (3.5, 0.5)


def test_result_tag_is_name_slash_protocol():
    assert tasks.MetricResult("fvd", "fvd256_16f", 1, 0, 1.0).tag == (
        "fvd/fvd256_16f"
    )
