use civic_auth_poem::civic_auth_required;
use poem::handler;

#[civic_auth_required(crate =, includes("groups", "admins"))]
#[handler]
async fn hello() -> &'static str {
    "hi"
}

fn main() {}
