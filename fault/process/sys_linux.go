package process

// supported says that this system carries process targets and faults.
func supported() error { return nil }
