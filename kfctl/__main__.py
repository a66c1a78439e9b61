from kfctl.cli.main import run

run()
