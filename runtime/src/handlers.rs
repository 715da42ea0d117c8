//! [`handlers!`](crate::handlers): a typed handler trait and its router, for a group of events
//! clients send — what code generated from TOML has per module (it is written with this
//! macro), for events derived in Rust.

/// Declares a trait with one method per event clients send, and a function building the
/// [`Router`](crate::Router) that sends each event to its method: the typed handlers of a
/// module, whether its events were generated from TOML (the generated code is this macro) or
/// derived with `#[derive(Event)]`.
///
/// Each method is `fn method(&self, session: Session, event: E) -> impl Future<Output =
/// Result<E::Reply, HandlerError>> + Send`, implemented as an `async fn`; the reply type is the
/// event's declared one (`#[event(reply = …)]`), so a handler answering with anything else does
/// not compile, nor does an implementation that forgets an event, nor a list naming an event
/// only the server sends (`direction = "to_client"`).
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use tidings::{Event, HandlerError, Session};
///
/// /// The answer to a cancellation.
/// #[derive(Debug, Serialize, Deserialize, tidings::Describe)]
/// #[tidings(module = "jobs")]
/// pub struct Cancelled {
///     pub cancelled: bool,
/// }
///
/// /// The owner asks to cancel a job.
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// #[event(module = "jobs", name = "jobs:cancel", direction = "to_server", reply = Cancelled)]
/// pub struct CancelJob {
///     pub job_id: String,
/// }
///
/// tidings::handlers! {
///     /// What the app does with the jobs module's client events.
///     pub trait JobsHandlers, fn jobs_router {
///         /// Handles `jobs:cancel`.
///         cancel_job => CancelJob,
///     }
/// }
///
/// struct Jobs;
///
/// impl JobsHandlers for Jobs {
///     async fn cancel_job(&self, _session: Session, event: CancelJob) -> Result<Cancelled, HandlerError> {
///         Ok(Cancelled { cancelled: !event.job_id.is_empty() })
///     }
/// }
///
/// let router = jobs_router(Jobs); // merge with other modules' routers: `Router::merge`
/// # let _ = router;
/// ```
#[macro_export]
macro_rules! handlers {
    (
        $(#[$trait_meta:meta])*
        $vis:vis trait $trait:ident, fn $router:ident {
            $(
                $(#[$method_meta:meta])*
                $method:ident => $event:ty
            ),* $(,)?
        }
    ) => {
        $(#[$trait_meta])*
        $vis trait $trait: ::std::marker::Send + ::std::marker::Sync + 'static {
            $(
                $(#[$method_meta])*
                fn $method(
                    &self,
                    session: $crate::Session,
                    event: $event,
                ) -> impl ::std::future::Future<
                    Output = ::std::result::Result<<$event as $crate::Event>::Reply, $crate::HandlerError>,
                > + ::std::marker::Send;
            )*
        }

        // An event the server only sends cannot have a handler: refused when compiling, not
        // when the router is built.
        $(
            const _: () = ::std::assert!(
                !::std::matches!(
                    <$event as $crate::Event>::DIRECTION,
                    $crate::schema::Direction::ServerToClient
                ),
                ::std::concat!(
                    "`", ::std::stringify!($event),
                    "` is sent by the server only (direction `to_client`): clients cannot send it, so it has no handler"
                )
            );
        )*

        #[doc = ::std::concat!(
            " A router sending each event of [`", ::std::stringify!($trait),
            "`] to its method of `handlers`. Merge the routers of several modules with [`tidings::Router::merge`]."
        )]
        $vis fn $router(handlers: impl $trait) -> $crate::Router {
            #[allow(unused_variables)]
            let handlers = ::std::sync::Arc::new(handlers);
            let router = $crate::Router::new();
            $(
                let h = ::std::sync::Arc::clone(&handlers);
                let router = router.on::<$event, _, _>(
                    move |session: $crate::Session, event: $event| async move { h.$method(session, event).await },
                );
            )*
            router
        }
    };
}
