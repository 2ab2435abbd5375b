// Package ratings is the read model of the reviews example: it folds
// shop.review.created.v1 and the products' own events (v1 ones arrive
// upcast to v2) into its own database and answers each product's title
// and average rating from it alone, like the shop's query service.
package ratings

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/examples/reviews"
	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/store"
)

// Descriptor describes the ratings read model to the catalogue.
var Descriptor = catalogue.Service{
	Name:    "ratings",
	Summary: "Answers a product's average rating, from its own read model alone.",
	Addr:    "127.0.0.1:8086",
	Migrations: []store.Migration{
		store.ProcessedSchema,
		{SQLite: `CREATE TABLE products (id INTEGER PRIMARY KEY, title TEXT NOT NULL, version INTEGER NOT NULL);
		CREATE TABLE reviews (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, rating INTEGER NOT NULL);
		CREATE INDEX reviews_product ON reviews (product_id);`},
	},
	ReadModel: true,
	Consumes: []catalogue.Consumer{{
		Doc: "Folds reviews and product titles into the read model.",
		Events: []event.Def{reviews.ReviewCreatedDef, event.ProductCreatedDef, event.ProductUpdatedDef,
			event.ProductCreatedV2Def, event.ProductUpdatedV2Def}, // v1 arrives upcast to v2
	}},
	Impl: catalogue.Implement(func(_ context.Context, rt *catalogue.Runtime) (*Service, error) {
		rt.Project("", service.Projection{Apply: Apply})
		return &Service{db: rt.DB}, nil
	}, Register),
}

// Apply folds one event into the read model, in any order of arrival: a
// product's title is a versioned upsert, a review is keyed by its id, and
// reviews are joined to titles when read.
func Apply(ctx context.Context, tx *sql.Tx, e event.Envelope) error {
	switch e.Type {
	case reviews.ReviewCreated:
		d, err := event.Decode[reviews.ReviewData](e)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO reviews (id, product_id, rating) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, d.ID, d.ProductID, d.Rating)
		return err
	case event.ProductCreatedV2, event.ProductUpdatedV2:
		d, err := event.Decode[event.ProductDataV2](e)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO products (id, title, version) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET title = excluded.title, version = excluded.version WHERE excluded.version > products.version`,
			d.ID, d.Title, e.EntityVersion)
		return err
	}
	return nil
}

// Rating is a product's answer.
type Rating struct {
	ProductID int64   `json:"productId"`
	Title     string  `json:"title" doc:"Empty until the product's own event has arrived"`
	Reviews   int     `json:"reviews"`
	Average   float64 `json:"average" doc:"Mean of the ratings; 0 without reviews"`
}

// Service answers from the read model. It is safe for concurrent use.
type Service struct{ db *sql.DB }

// Rating returns product id's rating, or an ENotFound error for a product
// no event has mentioned.
func (s *Service) Rating(ctx context.Context, id int64) (Rating, error) {
	r := Rating{ProductID: id}
	var title sql.NullString
	var avg sql.NullFloat64
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT title FROM products WHERE id = $1), count(*), avg(rating) FROM reviews WHERE product_id = $1`, id).
		Scan(&title, &r.Reviews, &avg)
	if err != nil {
		return Rating{}, fmt.Errorf("rating of product %d: %w", id, err)
	}
	if !title.Valid && r.Reviews == 0 {
		return Rating{}, herald.Errorf(herald.ENotFound, "no event has mentioned product %d", id)
	}
	r.Title, r.Average = title.String, avg.Float64
	return r, nil
}

type getInput struct {
	ID int64 `path:"id" minimum:"1" doc:"Product id"`
}

type ratingOutput struct {
	Body Rating
}

// Register adds the ratings route to api.
func Register(api huma.API, s *Service, log *slog.Logger) {
	huma.Register(api, huma.Operation{
		OperationID: "get-rating", Method: http.MethodGet, Path: "/products/{id}/rating", Summary: "A product's average rating",
	}, func(ctx context.Context, in *getInput) (*ratingOutput, error) {
		r, err := s.Rating(ctx, in.ID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &ratingOutput{Body: r}, nil
	})
}
