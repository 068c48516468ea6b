"""The simulated loop (tests/eval/simulate_loop.py) answers as the service can learn:
every judged pair may be answered, but an output's track record holds only what the
untaught engine proposed, at the chance it proposed it."""

from services.matching import decision
from tests.eval import metrics
from tests.eval.eval_matching import LOOP_TUNING, load
from tests.eval.simulate_loop import answers, halves


def test_the_track_record_holds_only_proposals_at_their_chances_and_every_answer_teaches_words():
    data = load(LOOP_TUNING)
    taught, _ = halves(data)
    judged = answers(data, taught, "judged")
    proposed = answers(data, taught, "proposed")
    lowest_bar = min(min(model.min_probability, model.min_probability_nearest or 1.0)
                     for model in decision.fitted_models().values())
    assert any(lesson.record for lesson in judged.values())
    for output_id, lesson in judged.items():
        # Answering the judged pairs answers the proposals among them: an unjudged
        # proposal joins the record only when every proposal is answered.
        assert set(lesson.record) <= set(proposed[output_id].record if output_id in proposed else ())
        assert len(lesson.record) <= len(lesson.useful) + len(lesson.not_useful)
        assert all(chance >= lowest_bar for chance, _ in lesson.record)
    answered = sum(len(lesson.useful) + len(lesson.not_useful) for lesson in judged.values())
    assert answered == sum(len(data.judgements[need_id]) for need_id in taught)
    useful = sum(len(lesson.useful) for lesson in judged.values())
    assert useful == sum(grade >= metrics.RELEVANT for need_id in taught for grade in data.judgements[need_id].values())
