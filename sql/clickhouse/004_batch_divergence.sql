-- Speed-vs-batch divergence measured after a run over the period it covered (JSON, '' = none).
ALTER TABLE batch_runs ADD COLUMN divergence String DEFAULT '';
