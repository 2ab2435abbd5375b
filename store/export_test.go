package store

// GroupCommits returns how many database transactions g has committed.
func GroupCommits(g *Group) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.commits
}
