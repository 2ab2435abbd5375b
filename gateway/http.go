package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/httpapi"
)

// SubscriptionView is a subscription as the API shows it: never its secret.
type SubscriptionView struct {
	ID           string    `json:"id" doc:"Subscription id; its durable consumer (and dead letters) are blog-push-<id>"`
	URL          string    `json:"url" doc:"Where events are POSTed"`
	Types        []string  `json:"types" doc:"Event types delivered; empty means every type"`
	Format       string    `json:"format" enum:"tutorial,cloudevents" doc:"tutorial: body {type, data}; cloudevents: the structured CloudEvent"`
	Signed       bool      `json:"signed" doc:"Whether deliveries carry a Standard Webhooks webhook-signature"`
	StartSeq     uint64    `json:"startSeq" doc:"First stream position delivered"`
	CreatedAt    time.Time `json:"createdAt"`
	ConfiguredBy string    `json:"configuredBy" enum:"flag,api" doc:"flag: from --push (managed only by the flag); api: from POST /subscriptions"`
	Pending      int64     `json:"pending" doc:"Events not yet delivered and acknowledged; -1 if the bus cannot say"`
}

func view(s subscription, pending int64) SubscriptionView {
	return SubscriptionView{ID: s.ID, URL: s.URL, Types: s.Types, Format: s.Format, Signed: s.Secret != "",
		StartSeq: s.StartSeq, CreatedAt: s.CreatedAt, ConfiguredBy: s.ConfiguredBy, Pending: pending}
}

type createSubInput struct {
	Body struct {
		URL    string   `json:"url" minLength:"1" maxLength:"2048" doc:"Absolute http(s) URL the events are POSTed to; its host must be allowed by --push-allow"`
		Types  []string `json:"types,omitempty" maxItems:"100" doc:"Event types to deliver; leave out for every type"`
		Format string   `json:"format,omitempty" enum:"tutorial,cloudevents" default:"tutorial" doc:"Delivery body format"`
		Secret string   `json:"secret,omitempty" maxLength:"200" doc:"Standard Webhooks secret (whsec_<base64 of 24 to 64 bytes>); leave out for the gateway's --push-secret"`
		From   string   `json:"from,omitempty" enum:"now,start" default:"now" doc:"now: events from now on, like the tutorial; start: replay the whole history first"`
	}
}

type subIDInput struct {
	ID string `path:"id" maxLength:"64" doc:"Subscription id"`
}

type subOutput struct {
	Location string `header:"Location"`
	Body     SubscriptionView
}

type subListOutput struct {
	Body struct {
		Subscriptions []SubscriptionView `json:"subscriptions"`
	}
}

// registerSubscriptions adds the /subscriptions routes to api.
func registerSubscriptions(api huma.API, p *pusher, log *slog.Logger) {
	huma.Register(api, huma.Operation{
		OperationID: "create-subscription", Method: http.MethodPost, Path: "/subscriptions",
		Summary: "Subscribe a URL to the blog's events", DefaultStatus: http.StatusCreated, Security: httpapi.Bearer,
		Description: "Every event (of the given types) is POSTed to url, in stream order, with Standard Webhooks headers " +
			"(webhook-id, webhook-timestamp, webhook-signature when signed). A 2xx answer acknowledges it; anything else is " +
			"retried with backoff, holding back the events behind it, and dead-lettered after the gateway's maximum attempts. " +
			"422 if the URL's host is not allowed; 409 if the URL is already subscribed.",
	}, func(ctx context.Context, in *createSubInput) (*subOutput, error) {
		if _, err := auth.Admin(ctx); err != nil {
			return nil, err
		}
		s, err := p.create(ctx, newSub{URL: in.Body.URL, Types: in.Body.Types, Format: in.Body.Format,
			Secret: in.Body.Secret, FromStart: in.Body.From == "start"})
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &subOutput{Location: "/subscriptions/" + s.ID, Body: view(s, p.lag(ctx, s.ID))}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-subscriptions", Method: http.MethodGet, Path: "/subscriptions",
		Summary: "List the push subscriptions", Description: "Each with how many events it has pending. Needs the operator token, as every /subscriptions route does.", Security: httpapi.Bearer,
	}, func(ctx context.Context, _ *struct{}) (*subListOutput, error) {
		if _, err := auth.Admin(ctx); err != nil {
			return nil, err
		}
		all, err := p.subs.list(ctx)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		out := &subListOutput{}
		out.Body.Subscriptions = []SubscriptionView{}
		for _, s := range all {
			out.Body.Subscriptions = append(out.Body.Subscriptions, view(s, p.lag(ctx, s.ID)))
		}
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-subscription", Method: http.MethodGet, Path: "/subscriptions/{id}", Summary: "Get a push subscription", Security: httpapi.Bearer,
	}, func(ctx context.Context, in *subIDInput) (*subOutput, error) {
		if _, err := auth.Admin(ctx); err != nil {
			return nil, err
		}
		s, err := p.subs.get(ctx, in.ID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &subOutput{Body: view(s, p.lag(ctx, s.ID))}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "delete-subscription", Method: http.MethodDelete, Path: "/subscriptions/{id}",
		Summary: "Delete a push subscription", DefaultStatus: http.StatusNoContent, Security: httpapi.Bearer,
		Description: "Stops its deliveries and deletes its durable consumer. A subscription configured by --push " +
			"cannot be deleted here (409): remove its URL from --push and restart the gateway.",
	}, func(ctx context.Context, in *subIDInput) (*struct{}, error) {
		if _, err := auth.Admin(ctx); err != nil {
			return nil, err
		}
		if err := p.remove(ctx, in.ID); err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return nil, nil
	})
}
