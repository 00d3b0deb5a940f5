use civic_auth_poem::{civic_auth_required, CivicUser};
use poem::handler;

#[civic_auth_required]
#[handler]
async fn hello(user: &CivicUser) -> String {
    user.id.clone()
}

fn main() {}
