use civic_auth_poem::civic_auth_required;
use poem::handler;

const ROLE: &str = "admin";

#[civic_auth_required(equals("role", ROLE))]
#[handler]
async fn hello() -> &'static str {
    "hi"
}

fn main() {}
