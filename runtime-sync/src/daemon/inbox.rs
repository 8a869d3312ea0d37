//! The bounded channel into the daemon's core thread: several senders, one receiver.
//!
//! crossbeam's channels spin and then `sched_yield` four times before a receiver blocks. The
//! core thread blocks after every batch it handles, so on a busy host each of those yields is a
//! context switch: in the exec-storm benchmark they were about a fifth of the daemon's CPU.
//! This channel blocks at once on a mutex and condition variables (futexes), and only wakes a
//! thread that is actually waiting. The API is the subset of crossbeam's the daemon uses, with
//! crossbeam's error types.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, SendError, SendTimeoutError, TrySendError};

/// A channel holding at most `capacity` messages (at least one).
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            senders: 1,
            receiver: true,
            receiver_waiting: false,
            senders_waiting: 0,
        }),
        readable: Condvar::new(),
        writable: Condvar::new(),
        capacity: capacity.max(1),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver { shared },
    )
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Signalled when a message comes or the last sender goes.
    readable: Condvar,
    /// Signalled when a message is taken from a full queue or the receiver goes.
    writable: Condvar,
    capacity: usize,
}

struct State<T> {
    queue: VecDeque<T>,
    senders: usize,
    receiver: bool,
    receiver_waiting: bool,
    senders_waiting: usize,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // The state stays consistent across a panic: every update is a single step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending side; clone it for more senders.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Sends unless the queue is full or the receiver is gone.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Disconnected`], with the message.
    pub fn try_send(&self, message: T) -> Result<(), TrySendError<T>> {
        let state = self.shared.lock();
        if !state.receiver {
            return Err(TrySendError::Disconnected(message));
        }
        if state.queue.len() >= self.shared.capacity {
            return Err(TrySendError::Full(message));
        }
        self.push(state, message);
        Ok(())
    }

    /// Sends, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`SendTimeoutError::Timeout`] or [`SendTimeoutError::Disconnected`], with the message.
    pub fn send_timeout(&self, message: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        match self.send_until(message, Some(Instant::now() + timeout)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(m)) => Err(SendTimeoutError::Timeout(m)),
            Err(TrySendError::Disconnected(m)) => Err(SendTimeoutError::Disconnected(m)),
        }
    }

    /// Sends, waiting as long as the queue is full.
    ///
    /// # Errors
    /// [`SendError`] with the message when the receiver is gone.
    pub fn send(&self, message: T) -> Result<(), SendError<T>> {
        self.send_until(message, None)
            .map_err(|e| SendError(e.into_inner()))
    }

    fn send_until(&self, message: T, deadline: Option<Instant>) -> Result<(), TrySendError<T>> {
        let mut state = self.shared.lock();
        loop {
            if !state.receiver {
                return Err(TrySendError::Disconnected(message));
            }
            if state.queue.len() < self.shared.capacity {
                self.push(state, message);
                return Ok(());
            }
            let wait = match deadline {
                Some(at) => match at.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return Err(TrySendError::Full(message)),
                },
                None => Duration::MAX,
            };
            state.senders_waiting += 1;
            state = self
                .shared
                .writable
                .wait_timeout(state, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.senders_waiting -= 1;
        }
    }

    fn push(&self, mut state: MutexGuard<'_, State<T>>, message: T) {
        state.queue.push_back(message);
        let wake = state.receiver_waiting;
        drop(state);
        if wake {
            self.shared.readable.notify_one();
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.senders -= 1;
        let wake = state.senders == 0 && state.receiver_waiting;
        drop(state);
        if wake {
            self.shared.readable.notify_one();
        }
    }
}

/// The receiving side.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// The next message, waiting at most `timeout` for one.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`]; [`RecvTimeoutError::Disconnected`] once the queue is
    /// empty and every sender is gone.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some(message) = self.pop(&mut state) {
                return Ok(message);
            }
            if state.senders == 0 {
                return Err(RecvTimeoutError::Disconnected);
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Err(RecvTimeoutError::Timeout);
            };
            if left.is_zero() {
                return Err(RecvTimeoutError::Timeout);
            }
            state.receiver_waiting = true;
            state = self
                .shared
                .readable
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.receiver_waiting = false;
        }
    }

    /// The messages waiting now, without blocking.
    pub fn try_iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.pop(&mut self.shared.lock()))
    }

    fn pop(&self, state: &mut MutexGuard<'_, State<T>>) -> Option<T> {
        let message = state.queue.pop_front()?;
        if state.senders_waiting > 0 {
            self.shared.writable.notify_one();
        }
        Some(message)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver = false;
        // Messages still queued are dropped now, not when the last sender goes.
        state.queue.clear();
        let wake = state.senders_waiting > 0;
        drop(state);
        if wake {
            self.shared.writable.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn messages_come_out_in_order_and_a_full_queue_refuses() {
        let (tx, rx) = bounded(2);
        tx.try_send(1).unwrap();
        tx.send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        let started = Instant::now();
        let timeout = Duration::from_millis(20);
        assert!(matches!(
            tx.send_timeout(3, timeout),
            Err(SendTimeoutError::Timeout(3))
        ));
        assert!(started.elapsed() >= timeout);
        assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(1));
        tx.try_send(3).unwrap();
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [2, 3]);
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(5)),
            Err(RecvTimeoutError::Timeout)
        );
    }

    #[test]
    fn a_waiting_receiver_wakes_for_a_message_and_for_the_last_sender_leaving() {
        let (tx, rx) = bounded(1);
        let second = tx.clone();
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            tx.send(7).unwrap();
            thread::sleep(Duration::from_millis(20));
            drop(tx);
            thread::sleep(Duration::from_millis(20));
            drop(second);
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(7));
        let started = Instant::now();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Err(RecvTimeoutError::Disconnected)
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        sender.join().unwrap();
    }

    #[test]
    fn a_waiting_sender_wakes_for_room_and_for_the_receiver_leaving() {
        let (tx, rx) = bounded(1);
        tx.send(1).unwrap();
        let receiver = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(1));
            thread::sleep(Duration::from_millis(20));
            drop(rx);
        });
        tx.send_timeout(2, Duration::from_secs(10)).unwrap();
        let started = Instant::now();
        assert!(matches!(
            tx.send_timeout(3, Duration::from_secs(10)),
            Err(SendTimeoutError::Disconnected(3))
        ));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(tx.send(4), Err(SendError(4))));
        receiver.join().unwrap();
    }
}
