package action

// Decrypt reads a file of the repository (or, from the CLI, any file) and decrypts
// it in memory if it is sops-encrypted. Its result is cleartext: the CLI prints it to
// a person, the module wraps it in a Secret.
type Decrypt struct {
	*Config
	File string // relative to Settings.PathBase
}

// Run decrypts.
func (d *Decrypt) Run() ([]byte, error) {
	p, err := d.path("file", d.File)
	if err != nil {
		return nil, err
	}
	data, _, err := d.Decrypter.ReadFile(p, d.File)
	return data, err
}
