"""Only for a checkout whose install predates the plugin's entry point (`pip install -e .`
registers it): load the scenario plugin unless the package already did."""

PLUGIN = "workbench.scenario.pytest_plugin"


def pytest_configure(config):
    manager = config.pluginmanager
    if not (manager.has_plugin("workbench-scenarios") or manager.has_plugin(PLUGIN)):
        manager.import_plugin(PLUGIN)
