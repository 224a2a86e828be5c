"""Image builders behind one interface, chosen by `images.builder` in kfops.yaml."""
