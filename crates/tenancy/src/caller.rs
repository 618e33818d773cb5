use std::fmt;

use uuid::Uuid;

use crate::{Error, Role};

/// Who is acting: a person (logged in with a JWT) or an automation key.
///
/// Kept distinct because audit rows and logs must say which one did a thing, and because some
/// actions (logout, `me`) only make sense for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    User(Uuid),
    ApiKey(Uuid),
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::User(_) => "user",
            Actor::ApiKey(_) => "api_key",
        }
    }

    pub fn id(&self) -> Uuid {
        match self {
            Actor::User(id) | Actor::ApiKey(id) => *id,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.id())
    }
}

/// An authenticated request's identity. The tenant comes from here and only from here, never
/// from a request body or query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant_id: Uuid,
    pub actor: Actor,
    pub role: Role,
    pub is_platform_admin: bool,
}

impl Caller {
    /// Checks a route's minimum role.
    pub fn require(&self, min_role: Role) -> Result<(), Error> {
        if self.role.at_least(min_role) {
            Ok(())
        } else {
            Err(Error::Denied {
                required: min_role,
                actual: self.role,
            })
        }
    }

    /// Platform administration is separate from tenant roles: a tenant admin does not operate
    /// the installation, and a platform admin's tenant role still applies inside a tenant.
    pub fn require_platform_admin(&self) -> Result<(), Error> {
        if self.is_platform_admin {
            Ok(())
        } else {
            Err(Error::NotPlatformAdmin)
        }
    }

    pub fn user_id(&self) -> Option<Uuid> {
        match self.actor {
            Actor::User(id) => Some(id),
            Actor::ApiKey(_) => None,
        }
    }

    pub fn api_key_id(&self) -> Option<Uuid> {
        match self.actor {
            Actor::ApiKey(id) => Some(id),
            Actor::User(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role) -> Caller {
        Caller {
            tenant_id: Uuid::new_v4(),
            actor: Actor::User(Uuid::new_v4()),
            role,
            is_platform_admin: false,
        }
    }

    #[test]
    fn require_checks_the_minimum_role() {
        // (caller role, required role, allowed)
        let table = [
            (Role::Viewer, Role::Viewer, true),
            (Role::Viewer, Role::Developer, false),
            (Role::Viewer, Role::Admin, false),
            (Role::Developer, Role::Viewer, true),
            (Role::Developer, Role::Developer, true),
            (Role::Developer, Role::Admin, false),
            (Role::Admin, Role::Viewer, true),
            (Role::Admin, Role::Developer, true),
            (Role::Admin, Role::Admin, true),
        ];
        for (have, need, allowed) in table {
            let result = caller(have).require(need);
            assert_eq!(result.is_ok(), allowed, "{have} requiring {need}");
            if !allowed {
                assert_eq!(
                    result.unwrap_err(),
                    Error::Denied {
                        required: need,
                        actual: have
                    }
                );
            }
        }
    }

    #[test]
    fn platform_admin_is_separate() {
        let mut c = caller(Role::Admin);
        assert_eq!(c.require_platform_admin(), Err(Error::NotPlatformAdmin));
        c.is_platform_admin = true;
        assert!(c.require_platform_admin().is_ok());
    }

    #[test]
    fn actor_accessors() {
        let id = Uuid::new_v4();
        let user = Caller {
            actor: Actor::User(id),
            ..caller(Role::Viewer)
        };
        assert_eq!(user.user_id(), Some(id));
        assert_eq!(user.api_key_id(), None);
        assert_eq!(user.actor.to_string(), format!("user:{id}"));
        let key = Caller {
            actor: Actor::ApiKey(id),
            ..caller(Role::Viewer)
        };
        assert_eq!(key.user_id(), None);
        assert_eq!(key.api_key_id(), Some(id));
        assert_eq!(key.actor.kind(), "api_key");
    }
}
