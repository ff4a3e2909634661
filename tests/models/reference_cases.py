"""Reading the reference vectors of ../shared/reference (inputs, authors' state dict, expected output)."""
from __future__ import annotations

import numpy as np
import torch


def load_case(reference_dir, case):
    """``(state_dict, ms, pan, lms, expected)`` of ``case``; ``ms`` is the file's ``lrms`` where it has
    one, else a stand-in of the right size (these networks read ``lms``)."""
    z = np.load(reference_dir / f"{case}.npz")
    sd = {k[3:]: torch.from_numpy(z[k]) for k in z.files if k.startswith("sd/")}
    lms, pan = torch.from_numpy(z["lms"]), torch.from_numpy(z["pan"])
    ms = torch.from_numpy(z["lrms"]) if "lrms" in z.files else torch.nn.functional.avg_pool2d(lms, 4)
    return sd, ms, pan, lms, z["out"]


def run_eval(model, ms, pan, lms):
    """The model's output in eval mode without gradients, as numpy."""
    with torch.no_grad():
        return model.eval()(ms, pan, lms).numpy()
