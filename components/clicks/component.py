"""KFP contract of the click-log simulator. The work is components.clicks.simulator."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def simulate_click_log(data: Input[Dataset], clicks: Output[Dataset], config_path: str = "",
                       seed: int = 7):
    """Simulate a biased click log over the prepared data (config: components/clicks/config.yaml)."""
    from components.clicks.simulator import DEFAULT_CONFIG, ClickConfig, simulate_clicks
    from components.data.bundle import DataBundle

    bundle = DataBundle.load(data.path)
    config = ClickConfig.from_yaml(config_path or DEFAULT_CONFIG, seed=seed)
    log = simulate_clicks(bundle.items, bundle.judgments, config)
    log.save(clicks.path)
    clicks.metadata.update(log.summary())
