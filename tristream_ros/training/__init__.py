"""Progressive training of the shipped model: phase 1 (contrastive STVE), phase 2 (cross-modal
alignment: CTC, LM, action, router, modal dropout), phase 3 (DPO), evaluation."""
