package blog_test

import (
	"testing"

	"github.com/heraldev/herald/internal/testenv"
)

// TestBlogFlowOnPostgresWithTwoCommentsInstances runs posts, comments and
// moderation on PostgreSQL, with two comments instances sharing one
// database (and so one durable consumer) and blog-query on its own SQLite
// read model: comments written through either instance are moderated once
// and shown with their decided status.
func TestBlogFlowOnPostgresWithTwoCommentsInstances(t *testing.T) {
	e := newEnv(t)
	posts := e.start("posts", withDB(testenv.Postgres(t)))
	commentsDB := testenv.Postgres(t)
	c1 := e.start("comments", withDB(commentsDB))
	c2 := e.start("comments", withDB(commentsDB))
	mod := e.start("moderation", withDB(testenv.Postgres(t)))
	query := e.start("blog-query")

	postID := createPost(t, posts, "On PostgreSQL")
	fine := addComment(t, c1, postID, "fine")
	juice := addComment(t, c2, postID, "orange juice")
	again := addComment(t, c2, postID, "fine again")
	fine.Status, juice.Status, again.Status = "approved", "rejected", "approved"
	waitView(t, query, map[string]post{postID: {ID: postID, Title: "On PostgreSQL", Comments: []comment{fine, juice, again}}})

	// Each comment was moderated once and updated once: three of each.
	counts := map[string]int{}
	for _, m := range settledEvents(t, e, map[string]*svc{"posts": posts, "comments": c1, "comments-2": c2, "moderation": mod}) {
		counts[m.Subject]++
	}
	for _, typ := range []string{"CommentCreated", "CommentModerated", "CommentUpdated"} {
		if n := counts["blog.event."+typ]; n != 3 {
			t.Errorf("%d %s events for 3 comments, want 3 (all: %v)", n, typ, counts)
		}
	}
}
