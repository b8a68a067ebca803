"""The one container image every KFP component runs in on a cluster.

Built from the repository's ``Dockerfile`` (the project installed with its pinned deps and
weights). ``KPDISTILL_IMAGE`` overrides it at compile time, e.g. to point at your registry.
Local runs (kfp.local SubprocessRunner) ignore the image and use this environment.
"""

import os

IMAGE = os.environ.get("KPDISTILL_IMAGE", "ghcr.io/kpdistill/kpdistill:0.1.0")
