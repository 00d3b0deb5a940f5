use civic_auth_poem::civic_auth_required;
use poem::handler;

#[civic_auth_required(includes("groups"))]
#[handler]
async fn hello() -> &'static str {
    "hi"
}

fn main() {}
