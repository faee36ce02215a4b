"""The SMILES domain: tokenizer, corpus, RDKit scoring, objectives (presets, GuacaMol/PMO oracles), metrics."""
