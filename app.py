"""CDK entry point (``cdk synth`` runs it): build the Gensail app and synthesize it."""

from infra.app import build_app

build_app().synth()
