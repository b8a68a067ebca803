"""Query cross-validation of the distillation chain: judge -> assistant -> students.

``python -m bench.cv --config bench/cv/h200.yaml --work DIR`` runs every stage that has not
left its output in ``DIR`` yet (so a run that was cut off resumes), in this order:

| stage | what | output under DIR |
| --- | --- | --- |
| ``generate`` | the judge's LLM writes a buyer query for each of a sample of items | ``generate/`` |
| ``prepare`` | folds, training keyphrases (WANDS, mined, generated), candidate and pool pairs | ``prepare/`` |
| ``judge`` | prompts on the judged ESCI pairs, the chosen prompt on the candidates, pairs/s | ``judge/`` |
| ``lora`` | per split: LoRA judge on the train queries' human labels, scores of test queries | ``lora/`` |
| ``assistant`` | cross-encoder(s) on the judge's labels, chosen on held-out judge labels | ``assistant/`` |
| ``pool`` | the assistant scores the pool (>= 10x the judged pairs), pairs/s | ``pool/`` |
| ``students`` | per split x seed x variant: a student, test-query metrics | ``students/`` |
| ``report`` | means over all queries, paired bootstrap intervals -> docs/results | ``report/`` |

Everything learnt from human labels (the LoRA judge, students' checkpoint choice) is learnt
inside a fold from its train/validation queries. The judge is zero-shot, and the assistant and
the pool use only keyphrases that are no ESCI query (WANDS, mined and generated phrases, all
from unlabelled text), so those are shared by all folds without leaking a test query.
"""
