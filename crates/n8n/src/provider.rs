use std::collections::HashSet;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use serde_json::Value;

use crate::error::ProviderError;
use crate::model::{Health, ListExecutions, ListWorkflows, Page, RemoteExecution, RemoteWorkflow};

/// A workflow automation service the engine syncs with.
///
/// The engine only talks to this trait, so a second provider (Make) is a new implementation,
/// not a change to the engine. Documents are `serde_json::Value` in the provider's own shape;
/// writes take any document (an export, a Git file) and the provider keeps what it accepts.
#[async_trait]
pub trait WorkflowProvider: Send + Sync {
    /// A short name for logs and errors ("n8n").
    fn provider_name(&self) -> &'static str;

    /// One page of workflows; pass the returned cursor back in `query.cursor` for the next.
    async fn list_workflows(
        &self,
        query: &ListWorkflows,
    ) -> Result<Page<RemoteWorkflow>, ProviderError>;

    async fn get_workflow(&self, id: &str) -> Result<RemoteWorkflow, ProviderError>;

    /// Creates a workflow from `doc` after keeping only what the provider accepts.
    async fn create_workflow(&self, doc: &Value) -> Result<RemoteWorkflow, ProviderError>;

    /// Replaces workflow `id` with `doc` after keeping only what the provider accepts.
    async fn update_workflow(&self, id: &str, doc: &Value)
        -> Result<RemoteWorkflow, ProviderError>;

    async fn delete_workflow(&self, id: &str) -> Result<(), ProviderError>;

    async fn activate_workflow(&self, id: &str) -> Result<RemoteWorkflow, ProviderError>;

    async fn deactivate_workflow(&self, id: &str) -> Result<RemoteWorkflow, ProviderError>;

    /// One page of executions, newest first.
    async fn list_executions(
        &self,
        query: &ListExecutions,
    ) -> Result<Page<RemoteExecution>, ProviderError>;

    /// A cheap authenticated round trip: succeeds only when the instance is reachable and the
    /// API key is accepted.
    async fn health(&self) -> Result<Health, ProviderError>;
}

/// Every page of a workflow listing as a stream, so a sync can process (and checkpoint) page
/// by page without holding the whole instance in memory.
///
/// Ends after the page without a cursor. A provider that hands back the cursor it was given
/// would loop forever; that ends the stream with a `Decode` error instead.
pub fn workflow_pages<'a, P>(
    provider: &'a P,
    query: ListWorkflows,
) -> BoxStream<'a, Result<Page<RemoteWorkflow>, ProviderError>>
where
    P: WorkflowProvider + ?Sized,
{
    stream::try_unfold(Some(query), move |state| async move {
        let Some(query) = state else { return Ok(None) };
        let page = provider.list_workflows(&query).await?;
        let next = match &page.next_cursor {
            None => None,
            Some(cursor) if query.cursor.as_deref() == Some(cursor.as_str()) => {
                return Err(ProviderError::Decode {
                    message: format!(
                        "{} returned the cursor it was given; the listing would never end",
                        provider.provider_name()
                    ),
                });
            }
            Some(cursor) => Some(ListWorkflows {
                cursor: Some(cursor.clone()),
                ..query
            }),
        };
        Ok(Some((page, next)))
    })
    .boxed()
}

/// All workflows, page after page, each id once.
///
/// n8n's list has no `ORDER BY` (offset pagination over an unordered query), so a workflow
/// saved while the listing runs can move between pages and be returned twice; the first copy
/// is kept. Listing while the instance is being edited can also miss such a workflow, which
/// only the next sync sees.
pub async fn list_all_workflows<P>(
    provider: &P,
    query: ListWorkflows,
) -> Result<Vec<RemoteWorkflow>, ProviderError>
where
    P: WorkflowProvider + ?Sized,
{
    let mut seen = HashSet::new();
    let mut all = Vec::new();
    let mut pages = workflow_pages(provider, query);
    while let Some(page) = pages.try_next().await? {
        for workflow in page.items {
            if seen.insert(workflow.id().to_string()) {
                all.push(workflow);
            }
        }
    }
    Ok(all)
}

/// Collects every page of executions matching `query`.
pub async fn list_all_executions<P>(
    provider: &P,
    query: ListExecutions,
) -> Result<Vec<RemoteExecution>, ProviderError>
where
    P: WorkflowProvider + ?Sized,
{
    let mut all = Vec::new();
    let mut query = query;
    loop {
        let page = provider.list_executions(&query).await?;
        all.extend(page.items);
        match page.next_cursor {
            None => return Ok(all),
            Some(c) if query.cursor.as_deref() == Some(c.as_str()) => {
                return Err(ProviderError::Decode {
                    message: "the execution listing returned the cursor it was given".into(),
                })
            }
            Some(c) => query.cursor = Some(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;

    /// A provider that serves scripted pages, to test the paging helpers without HTTP.
    struct Scripted {
        pages: Mutex<Vec<Page<RemoteWorkflow>>>,
        cursors_seen: Mutex<Vec<Option<String>>>,
    }

    fn wf(id: &str) -> RemoteWorkflow {
        RemoteWorkflow::from_value(json!({"id": id})).expect("valid")
    }

    #[async_trait]
    impl WorkflowProvider for Scripted {
        fn provider_name(&self) -> &'static str {
            "scripted"
        }
        async fn list_workflows(
            &self,
            q: &ListWorkflows,
        ) -> Result<Page<RemoteWorkflow>, ProviderError> {
            self.cursors_seen
                .lock()
                .expect("lock")
                .push(q.cursor.clone());
            let mut pages = self.pages.lock().expect("lock");
            if pages.is_empty() {
                return Err(ProviderError::Decode {
                    message: "no more scripted pages".into(),
                });
            }
            Ok(pages.remove(0))
        }
        async fn get_workflow(&self, _: &str) -> Result<RemoteWorkflow, ProviderError> {
            Err(ProviderError::NotFound {
                message: "scripted".into(),
            })
        }
        async fn create_workflow(&self, _: &Value) -> Result<RemoteWorkflow, ProviderError> {
            Err(ProviderError::NotFound {
                message: "scripted".into(),
            })
        }
        async fn update_workflow(
            &self,
            _: &str,
            _: &Value,
        ) -> Result<RemoteWorkflow, ProviderError> {
            Err(ProviderError::NotFound {
                message: "scripted".into(),
            })
        }
        async fn delete_workflow(&self, _: &str) -> Result<(), ProviderError> {
            Ok(())
        }
        async fn activate_workflow(&self, _: &str) -> Result<RemoteWorkflow, ProviderError> {
            Err(ProviderError::NotFound {
                message: "scripted".into(),
            })
        }
        async fn deactivate_workflow(&self, _: &str) -> Result<RemoteWorkflow, ProviderError> {
            Err(ProviderError::NotFound {
                message: "scripted".into(),
            })
        }
        async fn list_executions(
            &self,
            _: &ListExecutions,
        ) -> Result<Page<RemoteExecution>, ProviderError> {
            Ok(Page {
                items: vec![],
                next_cursor: None,
            })
        }
        async fn health(&self) -> Result<Health, ProviderError> {
            Ok(Health {
                latency: std::time::Duration::ZERO,
            })
        }
    }

    fn scripted(pages: Vec<Page<RemoteWorkflow>>) -> Scripted {
        Scripted {
            pages: Mutex::new(pages),
            cursors_seen: Mutex::new(vec![]),
        }
    }

    #[tokio::test]
    async fn pages_follow_cursors_and_duplicates_are_dropped() {
        let p = scripted(vec![
            Page {
                items: vec![wf("a"), wf("b")],
                next_cursor: Some("c1".into()),
            },
            Page {
                items: vec![wf("b"), wf("c")],
                next_cursor: Some("c2".into()),
            },
            Page {
                items: vec![wf("d")],
                next_cursor: None,
            },
        ]);
        let all = list_all_workflows(&p, ListWorkflows::default())
            .await
            .expect("lists");
        let ids: Vec<_> = all.iter().map(|w| w.id().to_string()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        assert_eq!(
            *p.cursors_seen.lock().expect("lock"),
            [None, Some("c1".into()), Some("c2".into())]
        );
    }

    #[tokio::test]
    async fn a_repeated_cursor_ends_the_stream_with_an_error() {
        let p = scripted(vec![
            Page {
                items: vec![wf("a")],
                next_cursor: Some("same".into()),
            },
            Page {
                items: vec![wf("b")],
                next_cursor: Some("same".into()),
            },
        ]);
        let pages: Vec<_> = workflow_pages(&p, ListWorkflows::default()).collect().await;
        assert_eq!(pages.len(), 2);
        assert!(pages[0].is_ok());
        assert!(
            matches!(&pages[1], Err(ProviderError::Decode { message }) if message.contains("cursor"))
        );
    }

    #[tokio::test]
    async fn the_stream_stops_at_the_first_error() {
        let p = scripted(vec![Page {
            items: vec![wf("a")],
            next_cursor: Some("c1".into()),
        }]);
        let result = list_all_workflows(&p, ListWorkflows::default()).await;
        assert!(matches!(result, Err(ProviderError::Decode { .. })));
    }
}
