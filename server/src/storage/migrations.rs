//! Migrations embedded in the binary, as a sqlx migration source (one list
//! per backend; see migrations/NOTES.md).

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationSource, MigrationType};

/// A boxed future, as sqlx's `MigrationSource` wants it.
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Numbered migrations: (version, description, SQL).
#[derive(Debug)]
pub(crate) struct EmbeddedMigrations(pub &'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for EmbeddedMigrations {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

impl EmbeddedMigrations {
    /// Applies those not applied yet. Several nodes starting at once take
    /// turns (sqlx holds a lock while migrating).
    pub(crate) async fn apply<'a, A>(self, to: A) -> Result<(), super::StorageError>
    where
        A: sqlx::Acquire<'a>,
        <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
    {
        sqlx::migrate::Migrator::new(self).await?.run(to).await?;
        Ok(())
    }
}
