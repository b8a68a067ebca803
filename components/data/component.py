"""KFP contract of the data step. The work is components.data.bundle."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def prepare_data(data: Output[Dataset], data_dir: str = "", split_seed: int = 13,
                 validation_fraction: float = 0.2, test_fraction: float = 0.2,
                 mined_keyphrases: int = 0, max_queries: int = 0):
    """Load ESCI items/judgments and WANDS queries, split queries, build the keyphrase universe.

    ``data_dir`` empty means KPDISTILL_DATA_DIR or the default (components/settings.py).
    ``mined_keyphrases``: how many catalogue-mined phrases join the universe (0: none);
    ``max_queries`` > 0: only the first that many queries (tests of the whole pipeline).
    """
    from pathlib import Path

    from components.data.bundle import DataBundle
    from components.data.splits import SplitConfig

    bundle = DataBundle.from_raw(Path(data_dir) if data_dir else None,
                                 SplitConfig(split_seed, validation_fraction, test_fraction),
                                 mined_keyphrases=mined_keyphrases, max_queries=max_queries)
    manifest = bundle.save(data.path)
    data.metadata.update({k: v for k, v in manifest.items() if k != "split"})
    data.metadata["split"] = manifest["split"]["queries"]
    data.metadata["items_in_two_or_more_splits"] = manifest["split"]["items_in_two_or_more_splits"]
