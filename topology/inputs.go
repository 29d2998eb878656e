package topology

// InputFiles lists the files the scenario was read from: the scenario file
// itself, then every manifest file it names, in order, as paths relative to
// the working directory or absolute. An output must never be one of them.
func (s *Scenario) InputFiles() []string {
	out := make([]string, 0, 1+len(s.inputs))
	if s.File != "" {
		out = append(out, s.File)
	}
	return append(out, s.inputs...)
}
