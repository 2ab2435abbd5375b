package users

import (
	"context"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
)

// Descriptor describes the users service to the catalogue.
var Descriptor = catalogue.Service{
	Name:       "users",
	Summary:    "Signs users up.",
	Addr:       "127.0.0.1:8081",
	Migrations: Migrations,
	Publishes:  []event.Def{event.UserCreatedDef},
	Impl: catalogue.Implement(func(_ context.Context, rt *catalogue.Runtime) (*Service, error) {
		s := New(rt.DB, rt.Writer)
		if rt.Issuer != nil {
			if err := s.UseIssuer(rt.Issuer); err != nil {
				return nil, err
			}
		}
		return s, nil
	}, Register),
}
