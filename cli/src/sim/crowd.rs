//! `--crowd N`: simulated users who join, chat and leave again (issue #3 item 4). They go
//! through the same [`Client`] code as real connections, so every member sees them exactly as
//! it sees real users (`k` + `j`, `m`, `o`).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep, Instant};
use uchat_bot::codec::Line;
use uchat_bot::token::{build_user_data, join_line, random_session, UserData, UserFields};

use super::client::Client;
use super::hub::Hub;
use super::room::{unix_now, Outbox};

const PHRASES: &[&str] = &[
    "안녕하세요",
    "반가워요 ㅎㅎ",
    "오늘 날씨 좋네요",
    "ㅋㅋㅋㅋ",
    "점심 뭐 드셨어요?",
    "hello from the crowd",
    "저녁에 또 올게요",
    "이 노래 좋다",
    "다들 뭐 하세요?",
    "good night 👋",
];

/// Random duration in `[0.5, 1.5) × mean`.
fn jitter(mean: Duration) -> Duration {
    mean.mul_f64(0.5 + fastrand::f64())
}

/// Runs one simulated user forever: join, chat every ~interval, leave after ~stay, pause, again.
pub async fn user(hub: Arc<Hub>, index: u32) {
    let crowd = hub.settings.crowd.clone();
    // Simulated users are the server's own: they know the room password and token.
    let spec = hub
        .settings
        .rooms
        .iter()
        .find(|r| r.name == crowd.room)
        .cloned();
    let password = spec.as_ref().and_then(|r| r.password.clone());
    let token = spec.and_then(|r| r.token);
    // Spread the first joins over a short while instead of a burst.
    sleep(jitter(Duration::from_millis(200)).mul_f64(f64::from(index % 10 + 1))).await;
    loop {
        let (out, mut rx) = Outbox::new();
        // Nobody reads a simulated user's screen: drain and discard.
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let mut client = Client::new(hub.clone(), format!("crowd#{index}"), out, true);
        // No nick: the server assigns 손님NNNN. Token rooms: a fresh member user_data, made the
        // way a site's PHP helper makes it.
        let session = random_session(|| fastrand::u32(..));
        let user = match &token {
            None => Ok(UserData::default()),
            Some(t) => {
                let fields = UserFields {
                    auth: Some("member".into()),
                    ..UserFields::default()
                };
                build_user_data(&crowd.room, t, unix_now() as i64, &fields).and_then(|b| b.parse())
            }
        };
        let Ok(join) = user.and_then(|u| join_line(&crowd.room, &u, &session, password.as_deref()))
        else {
            hub.log(format_args!(
                "crowd: cannot build a join for room {:?}",
                crowd.room
            ));
            return;
        };
        client.on_line(Ok(join));
        if client.seat().is_some() {
            let leave_at = Instant::now() + jitter(crowd.stay);
            loop {
                let pause = jitter(crowd.interval);
                if Instant::now() + pause >= leave_at {
                    sleep(leave_at.saturating_duration_since(Instant::now())).await;
                    break;
                }
                sleep(pause).await;
                let text = PHRASES[fastrand::usize(..PHRASES.len())];
                client.on_line(Ok(Line::new("m").with("").with(text)));
            }
            client.close("crowd user left");
        }
        drop(client);
        drain.abort();
        // Away for a while (or retry later when the join was refused, e.g. room full).
        sleep(jitter(crowd.stay / 4).max(Duration::from_millis(100))).await;
    }
}
