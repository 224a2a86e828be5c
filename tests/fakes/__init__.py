"""Test doubles held to real contracts: FakeKfp (KFP's v2beta1 models) and Prism (KFP's spec)."""
