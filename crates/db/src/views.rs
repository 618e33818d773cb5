//! Read models for the API: the cross-environment matrix, the canonical workflow and mapping
//! lists, and a canonical workflow's detail (its versions per environment and per Git folder).
//!
//! Everything here reads inside the caller's tenant transaction and relies on row-level
//! security for scoping, like every other query. The queries are written in SQL because they
//! are read-model joins whose plans matter (the matrix has a latency target, see
//! `docs/BENCHMARKS.md`): a count, one page query walking an index in the requested order,
//! then one query for the cells of that page's ids, so a page costs about the same at any
//! depth and whatever the number of environments.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Bool, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;
use wfops_canonical::MappingStatus;
use wfops_diff::DiffStatus;
use wfops_promotion::EnvironmentClass;

use crate::columns::{Parsed, ParsedOption};
use crate::error::Error;
use crate::Conn;

/// `s` as an `ILIKE` pattern matching any text that contains it literally (`%`, `_` and `\`
/// in the search are not wildcards).
pub fn contains_pattern(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The SQL that orders environments the way every cross-environment view shows them: by
/// promotion order of their class (the order of `EnvironmentClass`, written out from it), then
/// by name.
fn environment_order() -> String {
    format!(
        "{}, e.name, e.id",
        EnvironmentClass::sql_rank("e.environment_class")
    )
}

// ---------------------------------------------------------------------------------------------
// environments as columns
// ---------------------------------------------------------------------------------------------

/// An environment as a column of the matrix.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct EnvironmentColumn {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text, deserialize_as = Parsed<EnvironmentClass>)]
    pub environment_class: EnvironmentClass,
    #[diesel(sql_type = Nullable<Text>)]
    pub git_folder: Option<String>,
}

/// The tenant's environments in promotion order.
pub async fn environment_columns(conn: &mut Conn) -> Result<Vec<EnvironmentColumn>, Error> {
    diesel::sql_query(format!(
        "select e.id, e.name, e.environment_class, e.git_folder from environments e \
         where e.deleted_at is null order by {}",
        environment_order()
    ))
    .load(conn)
    .await
    .map_err(Error::from)
}

// ---------------------------------------------------------------------------------------------
// pipeline stages
// ---------------------------------------------------------------------------------------------

/// A stage of an active pipeline, with its pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveStage {
    pub pipeline_id: Uuid,
    pub pipeline_name: String,
    pub name: String,
    pub source_environment_id: Uuid,
    pub target_environment_id: Uuid,
}

/// Every stage of the tenant's active pipelines, pipelines oldest first, stages in their
/// pipeline's order. A pipeline whose stages can not be read is an error, never skipped.
pub async fn active_stages(conn: &mut Conn) -> Result<Vec<ActiveStage>, Error> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Jsonb)]
        stages: Value,
    }
    let rows = diesel::sql_query(
        "select p.id, p.name, p.stages from pipelines p where p.is_active \
         order by p.created_at, p.id",
    )
    .load::<Row>(conn)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let stages: Vec<wfops_promotion::Stage> =
            serde_json::from_value(row.stages).map_err(|e| {
                Error::Unreadable(format!("pipeline {} holds invalid stages: {e}", row.id))
            })?;
        out.extend(stages.into_iter().map(|s| ActiveStage {
            pipeline_id: row.id,
            pipeline_name: row.name.clone(),
            name: s.name,
            source_environment_id: s.source_environment_id,
            target_environment_id: s.target_environment_id,
        }));
    }
    Ok(out)
}

/// The stage that feeds each environment: of the stages whose target it is (and whose source
/// is a live environment), the first of the oldest active pipeline. By target environment id.
pub fn feeding_stages(
    stages: Vec<ActiveStage>,
    live: &[EnvironmentColumn],
) -> std::collections::HashMap<Uuid, ActiveStage> {
    let live: std::collections::HashSet<Uuid> = live.iter().map(|e| e.id).collect();
    let mut out = std::collections::HashMap::new();
    for s in stages {
        if live.contains(&s.source_environment_id) && live.contains(&s.target_environment_id) {
            out.entry(s.target_environment_id).or_insert(s);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// the matrix
// ---------------------------------------------------------------------------------------------

/// Row order of the matrix. Names compare case-insensitively; ties break on the id so that
/// pages never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatrixSort {
    #[default]
    NameAsc,
    NameDesc,
    UpdatedAsc,
    UpdatedDesc,
}

impl MatrixSort {
    fn order_by(self) -> &'static str {
        match self {
            MatrixSort::NameAsc => "lower(c.name) asc, c.id asc",
            MatrixSort::NameDesc => "lower(c.name) desc, c.id desc",
            MatrixSort::UpdatedAsc => "c.updated_at asc, c.id asc",
            MatrixSort::UpdatedDesc => "c.updated_at desc, c.id desc",
        }
    }
}

/// Filters of the matrix; `None` matches everything. `status` and `diff_status` match a row
/// when some environment's cell has that value, or only `environment_id`'s cell when it is
/// given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatrixFilter {
    /// Case-insensitive substring of the name or the slug.
    pub search: Option<String>,
    pub status: Option<MappingStatus>,
    /// A diff status against Git.
    pub diff_status: Option<DiffStatus>,
    pub environment_id: Option<Uuid>,
    pub sort: MatrixSort,
}

/// One canonical workflow: a row of the matrix and an item of the canonical list.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct CanonicalSummary {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub canonical_slug: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub content_hash: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub git_file_path: Option<String>,
    #[diesel(sql_type = Text)]
    pub provider: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    total: i64,
}

/// One (canonical workflow, environment) cell: its mapping, its Git state in the environment's
/// folder and its diff status against that Git state. Absent parts are `None`.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct MatrixCell {
    #[diesel(sql_type = SqlUuid)]
    pub canonical_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub environment_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub mapping_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>, deserialize_as = ParsedOption<MappingStatus>)]
    pub mapping_status: Option<MappingStatus>,
    #[diesel(sql_type = Nullable<Text>)]
    pub n8n_workflow_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub workflow_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub env_content_hash: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub git_content_hash: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub git_commit_sha: Option<String>,
    #[diesel(sql_type = Nullable<Text>, deserialize_as = ParsedOption<DiffStatus>)]
    pub diff_status: Option<DiffStatus>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub n8n_updated_at: Option<DateTime<Utc>>,
    /// The latest change of the mapping or of the Git state.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub updated_at: Option<DateTime<Utc>>,
    /// The diff status from the source environment of the stage that feeds this environment
    /// (see [`feeding_stages`]) to this environment; `None` without such a stage or status.
    #[diesel(sql_type = Nullable<Text>, deserialize_as = ParsedOption<DiffStatus>)]
    pub stage_diff_status: Option<DiffStatus>,
}

/// A page of the matrix: the rows, the total number of matching rows, and every non-empty
/// cell of those rows (environments without anything for a row have no cell).
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixPage {
    pub rows: Vec<CanonicalSummary>,
    pub total: i64,
    pub cells: Vec<MatrixCell>,
}

const SUMMARY_COLUMNS: &str = "c.id, c.canonical_slug, c.name, c.content_hash, c.git_file_path, \
     c.provider, c.created_at, c.updated_at, c.deleted_at";

/// Steers the rest of the caller's transaction away from sequential scans (the list and
/// matrix queries call it first).
///
/// Row-level security adds `tenant_id = nullif(current_setting(…), '')::uuid` to every scan.
/// In an index condition it is computed once; as the filter of a sequential scan it is
/// computed for every row of every tenant, which the planner does not charge for (it costs the
/// call like one operator). With few tenants the planner then picks sequential scans that run
/// 3× slower than the index scans these queries are built for (measured with the matrix
/// benchmark: about 5 ms against 1.5–2 ms per statement at 2 × 5,000 workflows). `SET LOCAL`
/// ends with the transaction.
pub async fn prefer_indexes(conn: &mut Conn) -> Result<(), Error> {
    diesel::sql_query("set local enable_seqscan = off")
        .execute(conn)
        .await?;
    Ok(())
}

/// A bound parameter of a dynamically built statement.
enum Bind {
    Text(String),
    Uuid(Uuid),
    BigInt(i64),
}

/// A `where` clause built from the filters that are set, with its parameters in order. Only
/// the predicates in use appear in the SQL (rather than `$1 is null or …`), so that a cached
/// statement's generic plan is as good as a custom one.
#[derive(Default)]
struct Where {
    conditions: Vec<String>,
    binds: Vec<Bind>,
}

impl Where {
    /// Adds a parameter and returns its placeholder (`$n`).
    fn param(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    fn and(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    fn sql(&self) -> String {
        if self.conditions.is_empty() {
            "true".to_string()
        } else {
            self.conditions.join(" and ")
        }
    }

    /// `query` with every parameter bound, in order.
    fn bind<'a>(
        &'a self,
        mut query: BoxedSqlQuery<'a, Pg, SqlQuery>,
    ) -> BoxedSqlQuery<'a, Pg, SqlQuery> {
        for b in &self.binds {
            query = match b {
                Bind::Text(v) => query.bind::<Text, _>(v.as_str()),
                Bind::Uuid(v) => query.bind::<SqlUuid, _>(*v),
                Bind::BigInt(v) => query.bind::<BigInt, _>(*v),
            };
        }
        query
    }
}

/// The matrix's `where` over `canonical_workflows c`.
fn matrix_where(filter: &MatrixFilter) -> Where {
    let mut w = Where::default();
    w.and("c.deleted_at is null".into());
    if let Some(search) = &filter.search {
        let p = w.param(Bind::Text(contains_pattern(search)));
        w.and(format!("(c.name ilike {p} or c.canonical_slug ilike {p})"));
    }
    let environment = filter.environment_id.map(|e| w.param(Bind::Uuid(e)));
    if let Some(status) = filter.status {
        let p = w.param(Bind::Text(status.as_str().to_string()));
        let env = environment
            .as_ref()
            .map(|e| format!(" and m.environment_id = {e}"))
            .unwrap_or_default();
        w.and(format!(
            "exists (select 1 from workflow_env_map m
                      where m.canonical_id = c.id and m.status = {p}{env})"
        ));
    }
    if let Some(diff_status) = filter.diff_status {
        let p = w.param(Bind::Text(diff_status.as_str().to_string()));
        let env = environment
            .as_ref()
            .map(|e| format!(" and d.source_environment_id = {e}"))
            .unwrap_or_default();
        w.and(format!(
            "exists (select 1 from workflow_diff_state d
                      where d.canonical_id = c.id and d.target_environment_id is null
                        and d.diff_status = {p}{env})"
        ));
    }
    w
}

/// One page of the matrix: the count, the page's rows, then the cells of those rows (three
/// index-driven statements, whatever the page and the filters).
pub async fn matrix(
    conn: &mut Conn,
    filter: &MatrixFilter,
    offset: i64,
    limit: i64,
    feeds: &[(Uuid, Uuid)],
) -> Result<MatrixPage, Error> {
    let (rows, total) = summaries(conn, filter, offset, limit).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let cells = matrix_cells(conn, &ids, feeds).await?;
    Ok(MatrixPage { rows, total, cells })
}

/// The canonical workflows of one page of `filter`, and the number of all that match.
async fn summaries(
    conn: &mut Conn,
    filter: &MatrixFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<CanonicalSummary>, i64), Error> {
    counted_page(
        conn,
        matrix_where(filter),
        "canonical_workflows c",
        offset,
        limit,
        |where_sql, limit_p, offset_p| {
            format!(
                "select {SUMMARY_COLUMNS} from canonical_workflows c where {where_sql}
                  order by {} limit {limit_p} offset {offset_p}",
                filter.sort.order_by()
            )
        },
    )
    .await
}

/// One page of the rows `w` selects, and how many match in all. Two statements rather than a
/// window count: `count(*) over ()` would make every page read and sort every matching row,
/// while the page alone walks the name or update-time index (migration `000004_read_models`)
/// only as far as `offset + limit`, and the count is an index-only scan. `count_from` is the
/// `from` the count needs; `page` writes the page statement from the `where` clause and the
/// limit and offset placeholders.
async fn counted_page<T>(
    conn: &mut Conn,
    mut w: Where,
    count_from: &str,
    offset: i64,
    limit: i64,
    page: impl FnOnce(&str, &str, &str) -> String,
) -> Result<(Vec<T>, i64), Error>
where
    T: QueryableByName<Pg> + Send + 'static,
{
    prefer_indexes(conn).await?;
    let count_sql = format!(
        "select count(*) as total from {count_from} where {}",
        w.sql()
    );
    let total = w
        .bind(diesel::sql_query(count_sql).into_boxed())
        .get_result::<Total>(conn)
        .await?
        .total;
    if total <= offset {
        return Ok((Vec::new(), total));
    }
    let (limit_p, offset_p) = (w.param(Bind::BigInt(limit)), w.param(Bind::BigInt(offset)));
    let page_sql = page(&w.sql(), &limit_p, &offset_p);
    let rows = w
        .bind(diesel::sql_query(page_sql).into_boxed())
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// Every non-empty (canonical, environment) cell of `ids`, in one query. `feeds` are
/// `(target, source)` environment pairs: each target's cell also carries the diff status from
/// its source (a cell that has nothing but that status is not empty: promoting would add it).
pub async fn matrix_cells(
    conn: &mut Conn,
    ids: &[Uuid],
    feeds: &[(Uuid, Uuid)],
) -> Result<Vec<MatrixCell>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (targets, sources): (Vec<Uuid>, Vec<Uuid>) = feeds.iter().copied().unzip();
    diesel::sql_query(
        "select c.id as canonical_id, e.id as environment_id,
                m.id as mapping_id, m.status as mapping_status, m.n8n_workflow_id,
                m.workflow_name, m.env_content_hash,
                coalesce(g.git_content_hash, m.git_content_hash) as git_content_hash,
                g.git_commit_sha, d.diff_status, m.n8n_updated_at,
                greatest(m.updated_at, g.updated_at) as updated_at,
                sd.diff_status as stage_diff_status
           from unnest($1::uuid[]) as c(id)
           cross join environments e
           left join unnest($2::uuid[], $3::uuid[]) as f(target_id, source_id)
                  on f.target_id = e.id
           left join workflow_env_map m
                  on m.canonical_id = c.id and m.environment_id = e.id
           left join canonical_workflow_git_state g
                  on g.canonical_id = c.id and g.environment_id = e.id
           left join workflow_diff_state d
                  on d.canonical_id = c.id and d.source_environment_id = e.id
                 and d.target_environment_id is null
           left join workflow_diff_state sd
                  on sd.canonical_id = c.id and sd.source_environment_id = f.source_id
                 and sd.target_environment_id = e.id
          where m.id is not null or g.canonical_id is not null or d.id is not null
             or sd.id is not null",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<SqlUuid>, _>(targets)
    .bind::<Array<SqlUuid>, _>(sources)
    .load(conn)
    .await
    .map_err(Error::from)
}

// ---------------------------------------------------------------------------------------------
// canonical workflows
// ---------------------------------------------------------------------------------------------

/// One page of canonical workflows (not deleted) by name, optionally filtered by a
/// case-insensitive substring of the name or slug, and the total.
pub async fn canonical_list(
    conn: &mut Conn,
    search: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<CanonicalSummary>, i64), Error> {
    let filter = MatrixFilter {
        search: search.map(str::to_owned),
        ..MatrixFilter::default()
    };
    summaries(conn, &filter, offset, limit).await
}

/// A canonical workflow by id, deleted or not; `NotFound` when it is not in this tenant.
pub async fn canonical_get(conn: &mut Conn, id: Uuid) -> Result<CanonicalSummary, Error> {
    diesel::sql_query(format!(
        "select {SUMMARY_COLUMNS} from canonical_workflows c where c.id = $1"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
    .map_err(Error::from)
}

// ---------------------------------------------------------------------------------------------
// mappings (workflow_env_map)
// ---------------------------------------------------------------------------------------------

/// A mapping as lists show it (the workflow document itself is left out: it can be large).
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct MappingView {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub environment_id: Uuid,
    #[diesel(sql_type = Text)]
    pub environment_name: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub canonical_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub canonical_slug: Option<String>,
    #[diesel(sql_type = Text)]
    pub n8n_workflow_id: String,
    #[diesel(sql_type = Text, deserialize_as = Parsed<MappingStatus>)]
    pub status: MappingStatus,
    #[diesel(sql_type = Nullable<Text>)]
    pub workflow_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub env_content_hash: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub git_content_hash: Option<String>,
    #[diesel(sql_type = Bool)]
    pub active: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub n8n_version_id: Option<String>,
    /// Why n8n's document could not be normalized (it then has no content hash).
    #[diesel(sql_type = Nullable<Text>)]
    pub parse_error: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub n8n_updated_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub linked_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_env_sync_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
}

/// Filters of the mapping list; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MappingFilter {
    pub environment_id: Option<Uuid>,
    pub status: Option<MappingStatus>,
    /// Case-insensitive substring of the workflow name, or exactly the n8n workflow id.
    pub search: Option<String>,
    pub canonical_id: Option<Uuid>,
}

const MAPPING_COLUMNS: &str =
    "m.id, m.environment_id, e.name as environment_name, m.canonical_id, \
     c.canonical_slug, m.n8n_workflow_id, m.status, m.workflow_name, m.env_content_hash, \
     m.git_content_hash, m.active, m.n8n_version_id, m.parse_error, m.n8n_updated_at, \
     m.linked_at, m.last_env_sync_at, m.created_at, m.updated_at";

const MAPPING_FROM: &str = "workflow_env_map m
       join environments e on e.id = m.environment_id
       left join canonical_workflows c on c.id = m.canonical_id";

fn mapping_where(filter: &MappingFilter) -> Where {
    let mut w = Where::default();
    if let Some(env) = filter.environment_id {
        let p = w.param(Bind::Uuid(env));
        w.and(format!("m.environment_id = {p}"));
    }
    if let Some(status) = &filter.status {
        let p = w.param(Bind::Text(status.as_str().to_string()));
        w.and(format!("m.status = {p}"));
    }
    if let Some(search) = &filter.search {
        let pattern = w.param(Bind::Text(contains_pattern(search)));
        let exact = w.param(Bind::Text(search.clone()));
        w.and(format!(
            "(m.workflow_name ilike {pattern} or m.n8n_workflow_id = {exact})"
        ));
    }
    if let Some(canonical) = filter.canonical_id {
        let p = w.param(Bind::Uuid(canonical));
        w.and(format!("m.canonical_id = {p}"));
    }
    w
}

/// One page of mappings ordered by workflow name (then environment and n8n id), and the total.
pub async fn mapping_list(
    conn: &mut Conn,
    filter: &MappingFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<MappingView>, i64), Error> {
    counted_page(
        conn,
        mapping_where(filter),
        "workflow_env_map m",
        offset,
        limit,
        |where_sql, limit_p, offset_p| {
            format!(
                "select {MAPPING_COLUMNS} from {MAPPING_FROM} where {where_sql}
                  order by lower(coalesce(m.workflow_name, '')), e.name, m.n8n_workflow_id, m.id
                  limit {limit_p} offset {offset_p}"
            )
        },
    )
    .await
}

/// The mapping of n8n workflow `n8n_workflow_id` in `environment_id`, if there is one.
pub async fn mapping_by_n8n_id(
    conn: &mut Conn,
    environment_id: Uuid,
    n8n_workflow_id: &str,
) -> Result<Option<MappingView>, Error> {
    use diesel::OptionalExtension;
    diesel::sql_query(format!(
        "select {MAPPING_COLUMNS} from {MAPPING_FROM}
          where m.environment_id = $1 and m.n8n_workflow_id = $2"
    ))
    .bind::<SqlUuid, _>(environment_id)
    .bind::<Text, _>(n8n_workflow_id)
    .get_result(conn)
    .await
    .optional()
    .map_err(Error::from)
}

/// The mapping that holds canonical workflow `canonical_id` in `environment_id`, if any (at
/// most one: `workflow_env_map_canonical_id_environment_id_key`).
pub async fn mapping_of_canonical(
    conn: &mut Conn,
    environment_id: Uuid,
    canonical_id: Uuid,
) -> Result<Option<MappingView>, Error> {
    use diesel::OptionalExtension;
    diesel::sql_query(format!(
        "select {MAPPING_COLUMNS} from {MAPPING_FROM}
          where m.environment_id = $1 and m.canonical_id = $2"
    ))
    .bind::<SqlUuid, _>(environment_id)
    .bind::<SqlUuid, _>(canonical_id)
    .get_result(conn)
    .await
    .optional()
    .map_err(Error::from)
}

// ---------------------------------------------------------------------------------------------
// a canonical workflow's versions
// ---------------------------------------------------------------------------------------------

/// The Git state of a canonical workflow in one environment's folder.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct GitStateView {
    #[diesel(sql_type = SqlUuid)]
    pub environment_id: Uuid,
    #[diesel(sql_type = Text)]
    pub environment_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub git_folder: Option<String>,
    #[diesel(sql_type = Text)]
    pub git_path: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub git_commit_sha: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub git_commit_time: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub git_content_hash: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub parse_error: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub last_synced_at: DateTime<Utc>,
}

/// A stored diff status: between two environments, or of one environment against Git when
/// `target_environment_id` is `None`.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct DiffStateView {
    #[diesel(sql_type = SqlUuid)]
    pub source_environment_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub target_environment_id: Option<Uuid>,
    #[diesel(sql_type = Text, deserialize_as = Parsed<DiffStatus>)]
    pub diff_status: DiffStatus,
    #[diesel(sql_type = Nullable<Text>)]
    pub source_content_hash: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub target_content_hash: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub git_content_hash: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub computed_at: DateTime<Utc>,
}

/// A canonical workflow with everything known about it per environment.
#[derive(Debug, Clone, PartialEq)]
pub struct CanonicalDetail {
    pub canonical: CanonicalSummary,
    /// In environment order.
    pub mappings: Vec<MappingView>,
    /// In environment order.
    pub git_states: Vec<GitStateView>,
    pub diff_states: Vec<DiffStateView>,
}

/// `NotFound` when the canonical workflow is not in this tenant.
pub async fn canonical_detail(conn: &mut Conn, id: Uuid) -> Result<CanonicalDetail, Error> {
    let canonical = canonical_get(conn, id).await?;
    let mappings = diesel::sql_query(format!(
        "select {MAPPING_COLUMNS} from {MAPPING_FROM}
          where m.canonical_id = $1
          order by {}",
        environment_order()
    ))
    .bind::<SqlUuid, _>(id)
    .load(conn)
    .await?;
    let git_states = diesel::sql_query(format!(
        "select g.environment_id, e.name as environment_name, e.git_folder, g.git_path,
                g.git_commit_sha, g.git_commit_time, g.git_content_hash, g.parse_error,
                g.last_synced_at
           from canonical_workflow_git_state g
           join environments e on e.id = g.environment_id
          where g.canonical_id = $1
          order by {}",
        environment_order()
    ))
    .bind::<SqlUuid, _>(id)
    .load(conn)
    .await?;
    let diff_states = diesel::sql_query(
        "select d.source_environment_id, d.target_environment_id, d.diff_status,
                d.source_content_hash, d.target_content_hash, d.git_content_hash, d.computed_at
           from workflow_diff_state d
          where d.canonical_id = $1
          order by d.source_environment_id, d.target_environment_id nulls first",
    )
    .bind::<SqlUuid, _>(id)
    .load(conn)
    .await?;
    Ok(CanonicalDetail {
        canonical,
        mappings,
        git_states,
        diff_states,
    })
}

/// Which stored document of a canonical workflow to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRef {
    /// The workflow as the last sync saw it in this environment's n8n.
    Environment(Uuid),
    /// The committed file in this environment's Git folder.
    Git(Uuid),
}

#[derive(QueryableByName)]
struct Document {
    #[diesel(sql_type = Nullable<Jsonb>)]
    doc: Option<Value>,
}

/// The stored workflow document of `version` for canonical workflow `canonical_id`: `None`
/// when that environment has no such version (no mapping / no Git state, or no stored
/// document).
pub async fn version_document(
    conn: &mut Conn,
    canonical_id: Uuid,
    version: VersionRef,
) -> Result<Option<Value>, Error> {
    use diesel::OptionalExtension;
    let (sql, environment_id) = match version {
        VersionRef::Environment(e) => (
            "select m.workflow_data as doc from workflow_env_map m
              where m.canonical_id = $1 and m.environment_id = $2",
            e,
        ),
        VersionRef::Git(e) => (
            "select g.git_workflow_data as doc from canonical_workflow_git_state g
              where g.canonical_id = $1 and g.environment_id = $2",
            e,
        ),
    };
    let found: Option<Document> = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(canonical_id)
        .bind::<SqlUuid, _>(environment_id)
        .get_result(conn)
        .await
        .optional()?;
    Ok(found.and_then(|d| d.doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_are_literal() {
        assert_eq!(contains_pattern("abc"), "%abc%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(contains_pattern(""), "%%");
    }
}
