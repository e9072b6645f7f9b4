package mask

// Differing returns the part of text, a render's error, that differs from standin, the
// error of the same render with a stand-in for every secret value, widened to whole
// words so that a secret's first or last characters, when they happen to equal the
// stand-in's, go with it; "" when they are the same. Between the first and the last
// difference everything goes, so several secrets in one message are all covered.
func Differing(text, standin string) string {
	if text == standin {
		return ""
	}
	prefix := 0
	for prefix < len(text) && prefix < len(standin) && text[prefix] == standin[prefix] {
		prefix++
	}
	suffix := 0
	for suffix < len(text)-prefix && suffix < len(standin)-prefix && text[len(text)-1-suffix] == standin[len(standin)-1-suffix] {
		suffix++
	}
	start, end := prefix, len(text)-suffix
	for start > 0 && !isSpace(text[start-1]) {
		start--
	}
	for end < len(text) && !isSpace(text[end]) {
		end++
	}
	return text[start:end]
}

// isSpace is ASCII white space; bytes of a multi-byte character never are.
func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}
