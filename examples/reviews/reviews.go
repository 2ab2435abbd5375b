// Package reviews is an example of adding a service to the shop: it lives
// in this folder alone and joins the shop with one line in the shop's
// catalogue (see the README's "Adding a service" and reviews_test.go).
//
// Reviews is a write service. It stores product reviews in its own database
// and, in the same transaction, records shop.review.created.v1 in its
// outbox. Its read model, package ratings, answers each product's average
// rating from the reviews' events and the products' own.
package reviews

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/store"
)

// ReviewCreated is the type of the event a new review emits. The event's
// type and payload belong to the service that owns it; consumers import
// them from here, never its database.
const ReviewCreated = "shop.review.created.v1"

// ReviewCreatedDef defines ReviewCreated.
var ReviewCreatedDef = event.Define[ReviewData](ReviewCreated, "A user reviewed a product.")

// ReviewData is the payload of shop.review.created.v1.
type ReviewData struct {
	ID        int64 `json:"id" minimum:"1" doc:"Review id"`
	ProductID int64 `json:"productId" minimum:"1"`
	Rating    int   `json:"rating" minimum:"1" maximum:"5" doc:"1 to 5 stars"`
}

// Validate reports what is wrong with d.
func (d ReviewData) Validate() error {
	var errs []error
	if d.ID <= 0 || d.ProductID <= 0 {
		errs = append(errs, errors.New("id and productId must be positive integers"))
	}
	if d.Rating < 1 || d.Rating > 5 {
		errs = append(errs, fmt.Errorf("rating %d is not 1 to 5", d.Rating))
	}
	return errors.Join(errs...)
}

// Descriptor describes the reviews service to the catalogue.
var Descriptor = catalogue.Service{
	Name:    "reviews",
	Summary: "Stores product reviews.",
	Addr:    "127.0.0.1:8085",
	Migrations: []store.Migration{
		outbox.Schema,
		{SQLite: `CREATE TABLE reviews (
			id         INTEGER PRIMARY KEY AUTOINCREMENT,
			product_id INTEGER NOT NULL,
			rating     INTEGER NOT NULL,
			text       TEXT NOT NULL,
			created_at TEXT NOT NULL
		);`, Postgres: `CREATE TABLE reviews (
			id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			product_id BIGINT NOT NULL,
			rating     INTEGER NOT NULL,
			text       TEXT NOT NULL,
			created_at TEXT NOT NULL
		);`},
	},
	Publishes: []event.Def{ReviewCreatedDef},
	Impl: catalogue.Implement(func(_ context.Context, rt *catalogue.Runtime) (*Service, error) {
		return &Service{w: rt.Writer}, nil
	}, Register),
}

// Review is a stored review.
type Review struct {
	ID        int64     `json:"id"`
	ProductID int64     `json:"productId"`
	Rating    int       `json:"rating"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"createdAt"`
}

// Service stores reviews. It is safe for concurrent use.
type Service struct{ w *outbox.Writer }

// Create stores a review and its event in one transaction.
func (s *Service) Create(ctx context.Context, productID int64, rating int, text string) (Review, error) {
	r := Review{ProductID: productID, Rating: rating, Text: strings.TrimSpace(text), CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	err := s.w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx,
			`INSERT INTO reviews (product_id, rating, text, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
			r.ProductID, r.Rating, r.Text, r.CreatedAt.Format(time.RFC3339Nano)).Scan(&r.ID); err != nil {
			return fmt.Errorf("create review: %w", err)
		}
		return s.w.Emit(ctx, tx, "/shop/reviews", ReviewCreated, strconv.FormatInt(r.ID, 10), 1,
			ReviewData{ID: r.ID, ProductID: r.ProductID, Rating: r.Rating})
	})
	if err != nil {
		return Review{}, err
	}
	return r, nil
}

type createInput struct {
	Body struct {
		ProductID int64  `json:"productId" minimum:"1" doc:"The product reviewed"`
		Rating    int    `json:"rating" minimum:"1" maximum:"5" doc:"1 to 5 stars"`
		Text      string `json:"text,omitempty" maxLength:"2000" doc:"What the reviewer says"`
	}
}

type createdOutput struct {
	Body Review
}

// Register adds the reviews routes to api.
func Register(api huma.API, s *Service, log *slog.Logger) {
	huma.Register(api, huma.Operation{
		OperationID: "create-review", Method: http.MethodPost, Path: "/reviews",
		Summary: "Review a product", DefaultStatus: http.StatusCreated,
		Description: "Stores the review and emits shop.review.created.v1 in the same transaction.",
	}, func(ctx context.Context, in *createInput) (*createdOutput, error) {
		r, err := s.Create(ctx, in.Body.ProductID, in.Body.Rating, in.Body.Text)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &createdOutput{Body: r}, nil
	})
}
