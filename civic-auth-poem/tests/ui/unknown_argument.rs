use civic_auth_poem::civic_auth_required;
use poem::handler;

#[civic_auth_required(admin)]
#[handler]
async fn hello() -> &'static str {
    "Hello, authenticated user!"
}

fn main() {}
